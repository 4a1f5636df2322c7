using ImageTool.Options;
using ImageTool.Rbd;

namespace ImageTool.Tests.Rbd;

/// <summary>rbd: names and driver=rbd options parsed as qemu 7.2's rbd driver parses them, and named back as qemu names the node.</summary>
public class RbdSpecTests
{
    [Test]
    public void Parse_PoolImageSnapshotAndOptions()
    {
        var spec = RbdSpec.Parse(@"rbd:rbd/disk@s1:conf=/etc/c.conf:id=alice:mon_host=127.0.0.1\:3300:key=k\=v");

        Assert.Multiple(() =>
        {
            Assert.That(spec.Pool, Is.EqualTo("rbd"));
            Assert.That(spec.Namespace, Is.EqualTo(""));
            Assert.That(spec.Image, Is.EqualTo("disk"));
            Assert.That(spec.Snapshot, Is.EqualTo("s1"));
            Assert.That(spec.Conf, Is.EqualTo("/etc/c.conf"));
            Assert.That(spec.User, Is.EqualTo("alice"));
            Assert.That(spec.Settings, Is.EqualTo(new[]
            {
                new KeyValuePair<string, string>("mon_host", "127.0.0.1:3300"),
                new KeyValuePair<string, string>("key", "k=v"),
            }));
        });
    }

    [Test]
    public void Parse_Namespace() => Assert.That(RbdSpec.Parse("rbd:p/ns/img").Namespace, Is.EqualTo("ns"));

    [TestCase("rbd:rbd", "Pool name is required")]
    [TestCase("rbd:rbd/x:foo", "conf option foo has no value")]
    [TestCase("nbd:rbd/x", "File name must start with 'rbd:'")]
    public void Parse_Invalid_QemuMessage(string name, string message) =>
        Assert.That(() => RbdSpec.Parse(name), Throws.TypeOf<ImageFormatException>().With.Message.EqualTo(message));

    [Test]
    public void JsonName_QemuHashOrder()
    {
        Assert.That(RbdSpec.Parse("rbd:rbd/q1@s1:conf=/c:id=admin").JsonNameUnder("raw"), Is.EqualTo(
            """json:{"driver": "raw", "file": {"pool": "rbd", "image": "q1", "conf": "/c", "snapshot": "s1", "driver": "rbd", "namespace": "", "user": "admin"}}"""));
    }

    [Test]
    public void FromOptions_RoundTripsThroughName()
    {
        var spec = RbdSpec.FromOptions(new ImageOptions().Parse("driver=rbd,pool=p,image=a:b,snapshot=s,user=u"), "");
        var back = RbdSpec.ParseName(spec.ToName());

        Assert.Multiple(() =>
        {
            Assert.That(back.Image, Is.EqualTo("a:b"));
            Assert.That(back.Snapshot, Is.EqualTo("s"));
            Assert.That(back.User, Is.EqualTo("u"));
            Assert.That(back.NamespaceGiven, Is.False);
            Assert.That(back.JsonName, Is.EqualTo("""json:{"pool": "p", "image": "a:b", "snapshot": "s", "driver": "rbd", "user": "u"}"""));
        });
    }
}
