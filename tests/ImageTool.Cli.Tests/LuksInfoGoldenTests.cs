using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>
/// qemu-iotests 210: a LUKS header naming an IV hash for plain64 (cbc-plain64:md5) reports no IV hash, as qemu.
/// qemu-iotests 282: a key secret that is not UTF-8 fails create with qemu's words and deletes the file, also one
/// that was there before.
/// </summary>
[Category("Qemu")]
public class LuksInfoGoldenTests : QemuGoldenTestBase
{
    [TestCase("human")]
    [TestCase("json")]
    public void Info_Plain64WithIvHash_ReportsAsQemuImg(string output)
    {
        Tools.RunIn(Dir.Path, "qemu-img", "create", "-q", "-f", "luks", "--object", "secret,id=s0,data=pw", "-o",
            "key-secret=s0,iter-time=10,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=plain64,ivgen-hash-alg=md5", "p.luks", "1M").Ok();
        Img.AssertSameAsQemu(Dir.Path, ["info", "--output=" + output, "p.luks"]);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void Create_SecretNotUtf8_FailsAndDeletesTheFile(bool fileExisted)
    {
        File.WriteAllBytes(Dir["non_utf8_secret"], [0x3a, 0x3c, 0x3b, 0xff]);
        string[] args = ["create", "-f", "luks", "--object", "secret,id=sec0,file=non_utf8_secret", "-o", "key-secret=sec0", "vol.img", "4M"];
        Img.AssertSameAsQemu(Dir.Path, args, () =>
        {
            File.Delete(Dir["vol.img"]);
            if (fileExisted) File.WriteAllBytes(Dir["vol.img"], []);
        });
        Assert.That(File.Exists(Dir["vol.img"]), Is.False);
    }
}
