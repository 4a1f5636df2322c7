using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// <c>convert -n --target-image-opts</c>: the existing target is opened with the options its name gives (driver,
/// driver options), as qemu-img's img_open does. img and qemu-img each write into a copy of the same target.
/// </summary>
[Category("Qemu")]
public class ConvertTargetImageOptsGoldenTests : QemuGoldenTestBase
{
    private void Qemu(params string[] args) => Tools.RunIn(Dir.Path, "qemu-img", args).Ok();

    private void Sources()
    {
        Qemu("create", "-q", "-f", "raw", "src.raw", "2M");
        Tools.RunIn(Dir.Path, "qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 2M", "src.raw").Ok();
    }

    [Test]
    public void Convert_IntoARawWindow_WritesWhereQemuImgWrites()
    {
        Sources();
        Qemu("create", "-q", "-f", "raw", "qemu.raw", "8M");
        File.Copy(Dir["qemu.raw"], Dir["img.raw"]);
        static string Target(string file) => $"driver=raw,offset=1M,size=2M,file.driver=file,file.filename={file}";
        Qemu("convert", "-n", "--target-image-opts", "src.raw", Target("qemu.raw"));
        Img.Run(Dir.Path, "convert", "-n", "--target-image-opts", "src.raw", Target("img.raw")).Ok();
        Assert.That(File.ReadAllBytes(Dir["img.raw"]), Is.EqualTo(File.ReadAllBytes(Dir["qemu.raw"])));
    }

    [Test]
    public void Convert_IntoQcow2Target_OpensTheDriverNamed()
    {
        Sources();
        Qemu("create", "-q", "-f", "qcow2", "qemu.qcow2", "2M");
        File.Copy(Dir["qemu.qcow2"], Dir["img.qcow2"]);
        Qemu("convert", "-n", "--target-image-opts", "src.raw", "driver=qcow2,file.filename=qemu.qcow2");
        Img.Run(Dir.Path, "convert", "-n", "--target-image-opts", "src.raw", "driver=qcow2,file.filename=img.qcow2").Ok();
        Qemu("compare", "-f", "raw", "-F", "qcow2", "src.raw", "img.qcow2");
        string Map(string file) => Tools.RunIn(Dir.Path, "qemu-img", "map", "--output=json", file).Ok().Stdout;
        Assert.That(Map("img.qcow2"), Is.EqualTo(Map("qemu.qcow2")));
    }

    [Test]
    public void Convert_WithTargetImageOptsAndOutputFormat_RefusedAsQemuImg()
    {
        Sources();
        Qemu("create", "-q", "-f", "raw", "t.raw", "2M");
        Img.AssertSameAsQemu(Dir.Path, ["convert", "-n", "-O", "raw", "--target-image-opts", "src.raw", "driver=raw,file.filename=t.raw"]);
    }
}
