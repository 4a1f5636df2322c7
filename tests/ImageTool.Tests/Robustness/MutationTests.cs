using System.Diagnostics;
using ImageTool.Check;
using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Robustness;

/// <summary>
/// Seeded damage to real images of every format (made by qemu-img, qemu-io, create_compressed_fs and img):
/// open, info, check, map and reading all data either work or fail with an <see cref="ImageFormatException"/>
/// or an <see cref="IOException"/> (one "img:" line in the CLI) — never another exception, a hang or an
/// allocation the file's size does not justify.
/// </summary>
[NonParallelizable]
public class MutationTests
{
    // IMG_MUTATIONS=N runs a longer sweep locally (CI keeps the default, about 2 s per seed).
    private static readonly int MutationsPerSeed = int.TryParse(Environment.GetEnvironmentVariable("IMG_MUTATIONS"), out int n) ? n : 150;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Seed images: name, and how to make it in a folder (a base.raw is there for backing files).</summary>
    private static readonly (string Name, Action<TempDir> Make)[] Seeds =
    [
        ("v3.qcow2", d =>
        {
            Qemu(d, "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "v3.qcow2", "4M");
            QemuIo(d, "v3.qcow2", "qcow2", "write -P 1 0 20k", "write -c -P 2 64k 4k", "write -z 128k 8k", "write -P 3 3M 4k");
            Qemu(d, "snapshot", "-c", "s1", "v3.qcow2");
            QemuIo(d, "v3.qcow2", "qcow2", "write -P 4 0 4k");
            Qemu(d, "bitmap", "--add", "v3.qcow2", "b0");
        }),
        ("v2.qcow2", d =>
        {
            Qemu(d, "create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4k", "-b", "base.raw", "-F", "raw", "v2.qcow2", "4M");
            QemuIo(d, "v2.qcow2", "qcow2", "write -P 1 4k 8k", "write -P 2 1M 4k");
        }),
        ("extl2.qcow2", d =>
        {
            Qemu(d, "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=16k", "extl2.qcow2", "4M");
            QemuIo(d, "extl2.qcow2", "qcow2", "write -P 1 0 3k", "write -z 8k 2k", "write -P 2 1M 64k");
        }),
        ("zstd.qcow2", d =>
        {
            SeededData.WriteRaw(d["src.raw"], 1 << 20, 3, (0, 100_000), (600_000, 5000));
            Qemu(d, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,cluster_size=4k", "src.raw", "zstd.qcow2");
        }),
        ("v1.qcow", d =>
        {
            Qemu(d, "create", "-q", "-f", "qcow", "-b", "base.raw", "-F", "raw", "v1.qcow", "4M");
            QemuIo(d, "v1.qcow", "qcow", "write -P 1 0 8k", "write -P 2 2M 4k");
        }),
        ("compressed.qcow", d =>
        {
            SeededData.WriteRaw(d["src.raw"], 1 << 20, 4, (0, 50_000));
            // qemu-img 7.2 writes the whole image, then exits 1 without a message (qcow refuses its final
            // zero-length compressed write).
            Tools.RunIn(d.Path, "qemu-img", "convert", "-c", "-O", "qcow", "src.raw", "compressed.qcow");
        }),
        ("sparse.vmdk", d =>
        {
            Qemu(d, "create", "-q", "-f", "vmdk", "sparse.vmdk", "4M");
            QemuIo(d, "sparse.vmdk", "vmdk", "write -P 1 0 8k", "write -P 2 2M 64k");
        }),
        ("stream.vmdk", d =>
        {
            SeededData.WriteRaw(d["src.raw"], 1 << 20, 5, (0, 70_000), (500_000, 3000));
            Qemu(d, "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", "src.raw", "stream.vmdk");
        }),
        ("flat.vmdk", d => Qemu(d, "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", "flat.vmdk", "1M")),
        ("c.cloop", d =>
        {
            File.WriteAllBytes(d["in.bin"], SeededData.Bytes(100_000, 6));
            Tools.Run("create_compressed_fs", "-q", "-B", "4096", d["in.bin"], d["c.cloop"]).Ok();
        }),
        ("d.vhd", d =>
        {
            Qemu(d, "create", "-q", "-f", "vpc", "d.vhd", "6M");
            QemuIo(d, "d.vhd", "vpc", "write -P 1 0 20k", "write -P 2 3M 4k");
        }),
        ("d.vhdx", d =>
        {
            Qemu(d, "create", "-q", "-f", "vhdx", "-o", "block_size=1M", "d.vhdx", "4M");
            QemuIo(d, "d.vhdx", "vhdx", "write -P 1 0 20k", "write -P 2 3M 4k");
        }),
        ("d.vdi", d =>
        {
            Qemu(d, "create", "-q", "-f", "vdi", "d.vdi", "4M");
            QemuIo(d, "d.vdi", "vdi", "write -P 1 0 8k", "write -P 2 2M 64k");
        }),
        ("b.qed", d =>
        {
            Qemu(d, "create", "-q", "-f", "qed", "-o", "cluster_size=4k,table_size=2", "-b", "base.raw", "-F", "raw", "b.qed", "4M");
            QemuIo(d, "b.qed", "qed", "write -P 1 4k 8k", "write -z 64k 4k", "write -P 2 3M 4k");
        }),
        ("p.parallels", d =>
        {
            Qemu(d, "create", "-q", "-f", "parallels", "-o", "cluster_size=64k", "p.parallels", "4M");
            QemuIo(d, "p.parallels", "parallels", "write -P 1 0 8k", "write -P 2 2M 64k");
        }),
        ("c.cow", d =>
        {
            DiskImage.Create(new CreateRequest(d["c.cow"], "cow") { Options = new ImageTool.Options.ImageOptions().Set("backing_file", "base.raw") });
            using var image = DiskImage.Open(d["c.cow"], new OpenOptions { ReadOnly = false });
            image.Write(4096, SeededData.Bytes(8192, 7));
        }),
    ];

    private static IEnumerable<string> SeedNames => Seeds.Select(s => s.Name);

    [TestCaseSource(nameof(SeedNames))]
    public void DamagedImage_FailsCleanly(string name)
    {
        Tools.Require("qemu-img");
        using var dir = new TempDir();
        SeededData.WriteRaw(dir["base.raw"], 4 << 20, 1, (0, 65536), (3 << 20, 4096));
        Seeds.Single(s => s.Name == name).Make(dir);
        byte[] seed = File.ReadAllBytes(dir[name]);
        Exercise(dir[name], seed.Length); // the undamaged image must work
        var random = new Random(StableSeed(name));
        var failures = new List<string>();
        string path = dir["m-" + name];
        for (int i = 0; i < MutationsPerSeed && failures.Count < 5; i++)
        {
            var (bytes, what) = Mutator.Mutate(seed, random);
            File.WriteAllBytes(path, bytes);
            string? failure = RunWithTimeout(() => Exercise(path, bytes.Length));
            if (failure == null) continue;
            failures.Add($"#{i} {what}: {failure}");
            // IMG_MUTATION_KEEP=DIR keeps the failing files for a closer look with the CLI.
            if (Environment.GetEnvironmentVariable("IMG_MUTATION_KEEP") is { Length: > 0 } keep)
                File.Copy(path, Path.Combine(keep, $"{i}-{name}"), overwrite: true);
        }
        Assert.That(failures, Is.Empty);
    }

    private static int StableSeed(string name)
    {
        int hash = 17;
        foreach (char c in name) hash = hash * 31 + c;
        return hash & 0x7fffffff;
    }

    /// <summary>Null when the operations worked or failed cleanly; otherwise what went wrong.</summary>
    private static string? RunWithTimeout(Func<string?> action)
    {
        var task = Task.Run(action);
        if (!task.Wait(Timeout)) return $"no result after {Timeout.TotalSeconds} s";
        return task.Result;
    }

    /// <summary>Open, info, check, map and read everything with data, watching exceptions and allocation.</summary>
    private static string? Exercise(string path, long fileLength)
    {
        long before = GC.GetTotalAllocatedBytes(precise: false);
        string? result = null;
        try
        {
            Operations(path);
        }
        catch (Exception e) when (e is ImageFormatException or IOException)
        {
            // a clean failure
        }
        catch (Exception e)
        {
            result = $"{e.GetType().Name}: {e.Message} {string.Join(" < ", (e.StackTrace ?? "").Split('\n').Take(3).Select(l => l.Trim()))}";
        }
        // Total allocation (metadata tables re-read many times may add up) and the peak working set.
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
        if (result == null && allocated > (512L << 20) + 64 * fileLength) result = $"allocated {allocated >> 20} MiB for a {fileLength}-byte file";
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        if (result == null && peak > 1L << 30) result = $"peak working set {peak >> 20} MiB";
        return result;
    }

    private static void Operations(string path)
    {
        foreach (var info in InfoOperation.Collect(path, new OpenOptions(), backingChain: true))
            _ = info.VirtualSize;
        using var image = DiskImage.Open(path);
        try
        {
            CheckOperation.Run(image, CheckRepair.None, _ => { });
        }
        catch (ImageFormatException) { } // a failed check still leaves map and read to try
        int entries = 0;
        foreach (var entry in MapOperation.Entries(image))
            if (++entries > 20_000) break;
        var buffer = new byte[1 << 20];
        long budget = 64L << 20, offset = 0;
        var watch = Stopwatch.StartNew();
        for (int runs = 0; offset < image.Length && budget > 0 && runs < 20_000 && watch.Elapsed < TimeSpan.FromSeconds(5); runs++)
        {
            var status = image.GetBlockStatus(offset, image.Length - offset);
            if (!status.IsZero || status.IsData)
            {
                int n = (int)Math.Min(Math.Min(status.Length, buffer.Length), budget);
                image.Read(offset, buffer.AsSpan(0, n));
                budget -= n;
                offset += n;
            }
            else
            {
                offset = status.End;
            }
        }
    }

    private static void Qemu(TempDir dir, params string[] args) => Tools.RunIn(dir.Path, "qemu-img", args).Ok();

    private static void QemuIo(TempDir dir, string file, string format, params string[] commands)
    {
        var args = new List<string> { "-f", format };
        foreach (var c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(file);
        Tools.RunIn(dir.Path, "qemu-io", [.. args]).Ok();
    }
}
