using System.Buffers.Binary;
using System.Text;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu-iotests 036: unknown feature bits. "Unsupported qcow2 feature(s)" names them from the image's feature name
/// table as qemu reads it, and check -r all clears unknown autoclear bits. img and qemu-img on the same files.
/// </summary>
[Category("Qemu")]
public class Qcow2FeatureBitsGoldenTests : QemuGoldenTestBase
{
    private void Qemu(params string[] args) => Tools.RunIn(Dir.Path, "qemu-img", args).Ok();

    [TestCase("\0?Test feature")]
    [TestCase("\0=test1\0                                        \0>test2\0                                        ")]
    [TestCase("\u0001=test1\0                                        \0>test2\0                                        \u0002?test3\0                                        ")]
    public void Info_OfUnsupportedFeature_NamesItFromTheTableAsQemuImg(string table)
    {
        Qemu("create", "-q", "-f", "qcow2", "f.qcow2", "64M");
        using (var f = new FileStream(Dir["f.qcow2"], FileMode.Open))
        {
            var features = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(features, 0xE000000000000000);
            f.Position = 72;
            f.Write(features);
            // Replace the extensions after the 112-byte header by this feature table and the end marker.
            byte[] data = Encoding.Latin1.GetBytes(table);
            var ext = new byte[8 + ((data.Length + 7) & ~7) + 8];
            BinaryPrimitives.WriteUInt32BigEndian(ext, 0x6803F857);
            BinaryPrimitives.WriteUInt32BigEndian(ext.AsSpan(4), (uint)data.Length);
            data.CopyTo(ext, 8);
            f.Position = 112;
            f.Write(ext);
        }
        Img.AssertSameAsQemu(Dir.Path, ["info", "f.qcow2"]);
    }

    [Test]
    public void CheckRepair_ClearsUnknownAutoclearBitsAsQemuImg()
    {
        byte[] After(Func<string[], Tools.Result> run)
        {
            Qemu("create", "-q", "-f", "qcow2", "a.qcow2", "64M");
            using (var f = new FileStream(Dir["a.qcow2"], FileMode.Open))
            {
                f.Position = 88;
                f.Write([0x80, 0, 0, 0, 0, 0, 0, 0]);
            }
            Assert.That(run(["check", "-r", "all", "a.qcow2"]).ExitCode, Is.EqualTo(0));
            return File.ReadAllBytes(Dir["a.qcow2"]);
        }
        byte[] qemu = After(args => Tools.RunIn(Dir.Path, "qemu-img", args));
        byte[] img = After(args => Img.Run(Dir.Path, args));
        Assert.That(img, Is.EqualTo(qemu));
    }
}
