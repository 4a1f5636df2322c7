using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats.Qcow2;

/// <summary>Random writes, zero-writes and reopens mirrored on a byte array; qemu-img must agree at the end.</summary>
public class Qcow2ModelTests
{
    [TestCase("cluster_size=64k", false, 1)]
    [TestCase("cluster_size=4k,refcount_bits=1", false, 2)]
    [TestCase("cluster_size=512,refcount_bits=64", false, 3)]
    [TestCase("compat=0.10,cluster_size=16k", false, 4)]
    [TestCase("cluster_size=8k,refcount_bits=4", true, 5)]
    [TestCase("compat=0.10,cluster_size=4k", true, 6)]
    [TestCase("lazy_refcounts=on,cluster_size=2k", true, 7)]
    public void RandomOperations_MatchModel_QemuCheckCleanAndCompareEqual(string options, bool withBacking, int seed)
    {
        using var dir = new TempDir();
        const int size = 6 << 20;
        var rng = new Random(seed);
        var model = new byte[size];
        if (withBacking)
        {
            var baseData = SeededData.Bytes(4 << 20, seed + 100); // shorter base: the tail reads zeros
            File.WriteAllBytes(dir["base.raw"], baseData);
            baseData.CopyTo(model, 0);
            Qcow2InteropTests.Create(dir["m.qcow2"], size, options, "base.raw", "raw");
        }
        else
        {
            Qcow2InteropTests.Create(dir["m.qcow2"], size, options);
        }
        var image = Qcow2InteropTests.OpenRw(dir["m.qcow2"]);
        try
        {
            for (int step = 0; step < 300; step++)
            {
                int op = rng.Next(10);
                long offset = rng.Next(size);
                int length = (int)Math.Min(size - offset, rng.Next(4) == 0 ? rng.Next(1, 300_000) : rng.Next(1, 9000));
                if (op < 6)
                {
                    var data = SeededData.Bytes(length, rng.Next());
                    image.Write(offset, data);
                    data.CopyTo(model, offset);
                }
                else if (op < 9)
                {
                    image.WriteZeroes(offset, length, rng.Next(2) == 0);
                    Array.Clear(model, (int)offset, length);
                }
                else
                {
                    image.Dispose();
                    image = Qcow2InteropTests.OpenRw(dir["m.qcow2"]);
                }
                long readAt = rng.Next(size);
                var actual = new byte[Math.Min(size - readAt, rng.Next(1, 200_000))];
                image.Read(readAt, actual);
                // Span comparison: NUnit's element-wise array equality is far too slow for this many bytes.
                Assert.That(actual.AsSpan().SequenceEqual(model.AsSpan((int)readAt, actual.Length)), Is.True, $"step {step} read at {readAt}");
            }
        }
        finally { image.Dispose(); }

        using (var ro = DiskImage.Open(dir["m.qcow2"]))
        {
            var all = new byte[size];
            ro.Read(0, all);
            Assert.That(all.AsSpan().SequenceEqual(model), Is.True);
        }
        Tools.QemuImg("check", dir["m.qcow2"]).Ok();
        File.WriteAllBytes(dir["model.raw"], model);
        Tools.QemuImg("compare", "-f", "qcow2", "-F", "raw", dir["m.qcow2"], dir["model.raw"]).Ok();
    }
}
