using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>qemu 7.2's network command lines (NETWORK.md §1.7) resolved to NICs and user-mode networks.</summary>
public class NetworkOptionsTests
{
    private static IReadOnlyList<NicSpec> Nics(params string[] args) => RunOptions.Parse(["-hda", "x.img", .. args]).Nics;

    [Test]
    public void NoOption_IsE1000OnUserNetworking()
    {
        var nic = Nics().Single();
        Assert.That(nic.Model, Is.EqualTo(NicModel.E1000));
        Assert.That(nic.Mac, Is.EqualTo(new byte[] { 0x52, 0x54, 0, 0x12, 0x34, 0x56 }));
        Assert.That(nic.Backend, Is.Not.Null);
    }

    [Test]
    public void TutorialLine_NetNicModelVirtio_NetUser()
    {
        var nic = Nics("-net", "nic,model=virtio", "-net", "user").Single();
        Assert.That(nic.Model, Is.EqualTo(NicModel.VirtioNet));
        Assert.That(nic.Backend, Is.Not.Null);
    }

    [TestCase("e1000", "E1000")]
    [TestCase("virtio-net-pci", "VirtioNet")]
    [TestCase("ne2k_pci", "Ne2kPci")]
    public void Spellings(string model, string expectedName)
    {
        var expected = Enum.Parse<NicModel>(expectedName);
        Assert.That(Nics("-nic", $"user,model={model}").Single().Model, Is.EqualTo(expected));
        Assert.That(Nics("-net", $"nic,model={model}", "-net", "user").Single().Model, Is.EqualTo(expected));
        var nic = Nics("-netdev", "user,id=n0,hostfwd=tcp::2222-:22", "-device", $"{model},netdev=n0,mac=52:54:00:aa:bb:cc").Single();
        Assert.That(nic.Model, Is.EqualTo(expected));
        Assert.That(nic.Mac, Is.EqualTo(new byte[] { 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc }));
        Assert.That(nic.Backend!.HostForwards.Single().GuestPort, Is.EqualTo(22));
    }

    [Test]
    public void NetNone_AndNicNone_MeanNoNic()
    {
        Assert.That(Nics("-net", "none"), Is.Empty);
        Assert.That(Nics("-nic", "none"), Is.Empty);
    }

    [Test]
    public void SeveralNic_GetConsecutiveMacs_AndOwnStacks()
    {
        var nics = Nics("-nic", "user,model=virtio", "-nic", "user,model=e1000,restrict=on");
        Assert.That(nics[1].Mac[5], Is.EqualTo(0x57));
        Assert.That(nics[0].Backend, Is.Not.SameAs(nics[1].Backend));
        Assert.That(nics[1].Backend!.Restrict, Is.True);
    }

    [TestCase(new[] { "-net", "nic,model=rtl8029", "-net", "user" }, "Unsupported NIC model: rtl8029")]
    [TestCase(new[] { "-nic", "user,hostfwd=tcp::2222" }, "Invalid host forwarding rule 'tcp::2222' (Bad host port separator)")]
    [TestCase(new[] { "-nic", "user,hostfwd=icmp::1-:2" }, "Invalid host forwarding rule 'icmp::1-:2' (Bad protocol name)")]
    [TestCase(new[] { "-nic", "user,hostfwd=2222" }, "Invalid host forwarding rule '2222' (No : separators)")]
    [TestCase(new[] { "-nic", "user,hostfwd=tcp::x-:22" }, "Invalid host forwarding rule 'tcp::x-:22' (Bad host port)")]
    [TestCase(new[] { "-nic", "user,hostfwd=tcp::1-22" }, "Invalid host forwarding rule 'tcp::1-22' (Missing guest address)")]
    [TestCase(new[] { "-nic", "user,hostfwd=tcp::1-:0" }, "Invalid host forwarding rule 'tcp::1-:0' (Bad guest port)")]
    [TestCase(new[] { "-device", "e1000,netdev=n9" }, "-device e1000,netdev=n9: Property 'e1000.netdev' can't find value 'n9'")]
    [TestCase(new[] { "-device", "rtl8029" }, "-device rtl8029: 'rtl8029' is not a valid device model name")]
    [TestCase(new[] { "-netdev", "user" }, "-netdev user: Parameter 'id' is missing")]
    [TestCase(new[] { "-nic", "user,foo=1" }, "Invalid parameter 'foo'")]
    public void BadInput_QemuWording(string[] args, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => Nics(args));
        Assert.That(e!.Message, Is.EqualTo(message));
    }
}
