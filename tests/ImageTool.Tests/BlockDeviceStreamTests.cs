using ImageTool.Tests.Support;

namespace ImageTool.Tests;

public class BlockDeviceStreamTests
{
    [Test]
    public void WriteThenRead_AtSeekedPositions_RoundTripsThroughTheDevice()
    {
        using var device = new MemoryBlockDevice(64 << 10);
        using var stream = new BlockDeviceStream(device);
        stream.Seek(5000, SeekOrigin.Begin);
        stream.Write("hello"u8);
        Assert.That(device.GetBlockStatus(4096, 4096).State, Is.EqualTo(BlockState.Data));
        Assert.That(device.GetBlockStatus(0, 4096).State, Is.EqualTo(BlockState.Unallocated));
        var back = new byte[7];
        stream.Position = 4999;
        Assert.That(stream.Read(back), Is.EqualTo(7));
        Assert.That(back, Is.EqualTo("\0hello\0"u8.ToArray()));
    }

    [Test]
    public void Read_AtTheEnd_ReturnsOnlyWhatIsLeft()
    {
        using var device = new MemoryBlockDevice(8192);
        using var stream = new BlockDeviceStream(device);
        stream.Seek(-3, SeekOrigin.End);
        Assert.That(stream.Read(new byte[10]), Is.EqualTo(3));
        Assert.That(stream.Read(new byte[10]), Is.Zero);
    }

    [Test]
    public void Write_PastTheEnd_IsRefusedAndDisposeOwnsTheDeviceOnlyWhenAsked()
    {
        var device = new MemoryBlockDevice(4096);
        using (var stream = new BlockDeviceStream(device))
        {
            stream.Position = 4094;
            Assert.Throws<NotSupportedException>(() => stream.Write("abc"u8));
        }
        Assert.That(device.IsDisposed, Is.False);
        using (new BlockDeviceStream(device, ownsDevice: true)) { }
        Assert.That(device.IsDisposed, Is.True);
    }
}
