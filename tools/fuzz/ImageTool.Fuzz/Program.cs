using ImageTool;
using SharpFuzz;

// img-fuzz FORMAT [FILE]: afl++ feeds inputs on stdin (SharpFuzz's out-of-process mode); with FILE, runs one input
// once and prints what happened (to replay a finding). FORMAT is a format name, or "probe" to let the registry choose.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: img-fuzz FORMAT [FILE]");
    return 2;
}
if (args[0] == "create" && args.Length == 5)
{
    // img-fuzz create FORMAT PATH BYTES BACKING: a seed image qemu-img cannot make (cow)
    DiskImage.Create(new CreateRequest(args[2], args[1])
    {
        Size = long.Parse(args[3]),
        Options = new ImageTool.Options.ImageOptions().Set("backing_file", args[4]),
    });
    return 0;
}
string format = args[0];
string scratch = Path.Combine(Path.GetTempPath(), $"img-fuzz-{Environment.ProcessId}");
Directory.CreateDirectory(scratch);
string path = Path.Combine(scratch, "input." + (format == "probe" ? "img" : format));
// the backing file the cow and qed seeds name (made by run.sh as base.raw next to the image)
string backing = Path.Combine(scratch, "base.raw");
if (!File.Exists(backing))
    File.WriteAllBytes(backing, Enumerable.Repeat((byte)1, 1 << 20).ToArray());

if (args.Length > 1)
{
    using (var input = File.OpenRead(args[1]))
        SparseInput.WriteFile(input, path);
    try
    {
        FuzzTarget.Exercise(path, format);
        Console.WriteLine("ok");
    }
    catch (Exception e) when (FuzzTarget.IsCleanFailure(e))
    {
        Console.WriteLine($"clean failure: {e.GetType().Name}: {e.Message}");
    }
    return 0;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    SparseInput.WriteFile(stream, path);
    try
    {
        FuzzTarget.Exercise(path, format);
    }
    catch (Exception e) when (FuzzTarget.IsCleanFailure(e))
    {
        // one "img:" line in the CLI: what a bad image should get
    }
});
return 0;
