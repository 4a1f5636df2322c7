// ImageCat: the guest's view of any disk image (qcow2, vmdk, vhdx, ... and its backing chain) as a flat stream.
//
//   dotnet run --project samples/ImageCat -- disk.qcow2 disk.raw     # writes the raw bytes to disk.raw
//   dotnet run --project samples/ImageCat -- disk.vmdk | sha256sum   # or streams them to stdout
using ImageTool;

if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: ImageCat IMAGE [OUTPUT]");
    return 2;
}

try
{
    // Open probes the format and opens the backing chain read-only; the stream reads what a guest would see.
    using var image = DiskImage.Open(args[0]);
    using var input = new BlockDeviceStream(image);
    using var output = args.Length == 2 ? File.Create(args[1]) : Console.OpenStandardOutput();
    input.CopyTo(output, 1 << 20);
    Console.Error.WriteLine($"{image.FormatName}, {image.Length} bytes");
    return 0;
}
catch (ImageFormatException e)
{
    // The library's errors are worded like qemu-img's; Kind says what went wrong without parsing the words.
    Console.Error.WriteLine($"ImageCat: {e.Message} ({e.Kind})");
    return 1;
}
