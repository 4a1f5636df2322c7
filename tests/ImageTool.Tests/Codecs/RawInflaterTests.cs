using ImageTool.Codecs;
using ImageTool.Tests.Support;

namespace ImageTool.Tests.Codecs;

public class RawInflaterTests
{
    private static (byte[] Data, byte[] Stream) Sample()
    {
        var data = new byte[4096];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i % 37);
        var buf = new byte[4096];
        using var d = new RawDeflater();
        int n = d.Compress(data, buf);
        return (data, buf.AsSpan(0, n).ToArray());
    }

    [Test]
    public void TryDecompress_TrailingBytesAfterStream_AreIgnored()
    {
        var (data, stream) = Sample();
        byte[] withTail = [.. stream, .. SeededData.Bytes(700, 1)];
        var back = new byte[data.Length];
        Assert.That(RawInflater.TryDecompress(withTail, back), Is.True);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void TryDecompress_StreamShorterThanCluster_Fails()
    {
        var (data, stream) = Sample();
        Assert.That(RawInflater.TryDecompress(stream, new byte[data.Length * 2]), Is.False);
    }

    [Test]
    public void TryDecompress_TruncatedStream_Fails()
    {
        var (data, stream) = Sample();
        Assert.That(RawInflater.TryDecompress(stream.AsSpan(0, stream.Length / 2), new byte[data.Length]), Is.False);
    }

    [Test]
    public void TryDecompress_Garbage_Fails()
    {
        byte[] junk = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        Assert.That(RawInflater.TryDecompress(junk, new byte[4096]), Is.False);
    }

    [Test]
    public void TryDecompress_EmptyInput_Fails()
    {
        Assert.That(RawInflater.TryDecompress([], new byte[512]), Is.False);
    }
}
