using ImageTool.Operations;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>The five-line library example from README.md, kept compiling and working.</summary>
public class LibraryUsageTests
{
    [Test]
    public void ReadmeExample_CreatesWritesConvertsAndReads()
    {
        using var dir = new TempDir();
        string disk = dir["disk.raw"], copy = dir["copy.raw"];
        // --- README example begins ---
        DiskImage.Create(new CreateRequest(disk, "raw") { Size = 64L << 20 });
        using (var image = DiskImage.Open(disk, new OpenOptions { ReadOnly = false }))
            image.Write(1 << 20, "hello"u8);
        ConvertOperation.Run([disk], copy, new ConvertOptions { OutputFormat = "raw" });
        using var stream = new BlockDeviceStream(DiskImage.Open(copy), ownsDevice: true);
        // --- README example ends ---
        stream.Position = 1 << 20;
        var buffer = new byte[5];
        stream.ReadExactly(buffer);
        Assert.That(buffer, Is.EqualTo("hello"u8.ToArray()));
        Assert.That(stream.Length, Is.EqualTo(64L << 20));
    }
}
