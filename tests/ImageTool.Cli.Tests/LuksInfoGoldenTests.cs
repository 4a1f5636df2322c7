using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>qemu-iotests 210: a LUKS header naming an IV hash for plain64 (cbc-plain64:md5) reports no IV hash, as qemu.</summary>
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
}
