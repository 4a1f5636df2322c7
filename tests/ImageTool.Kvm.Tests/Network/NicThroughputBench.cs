using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>
/// Opt-in TCP throughput bench (tools/bench/bench.sh runs it): the micro guest moves IMG_NET_BENCH_MIB MiB each way
/// through the NAT and through hostfwd, under img run and under qemu-system-x86_64 -enable-kvm with the same NIC
/// and -net user; the table (MB/s, both directions at once) goes to IMG_NET_BENCH_OUT or the test output, next to
/// the tutorial's scp figures.
/// </summary>
public class NicThroughputBench
{
    [Test]
    public void Throughput()
    {
        string? mib = Environment.GetEnvironmentVariable("IMG_NET_BENCH_MIB");
        if (string.IsNullOrEmpty(mib)) Assert.Ignore("set IMG_NET_BENCH_MIB to run the network bench");
        Guest.RequireKvm();
        Tools.Require("nasm");
        string qemu = Tools.Require("qemu-system-x86_64");
        int bytes = int.Parse(mib, System.Globalization.CultureInfo.InvariantCulture) << 20;
        var table = new System.Text.StringBuilder();
        table.Append("| NIC | tutorial (scp, Linux guest) | img NAT MB/s | img hostfwd MB/s | qemu NAT MB/s | qemu hostfwd MB/s |\n");
        table.Append("|---|---|---|---|---|---|\n");
        foreach (var (model, tutorial) in new[] { ("virtio", "10.6-11.1 MB/s"), ("e1000", "4.8-5.4 MB/s"), ("ne2k_pci", "0.2-0.3 MB/s") })
        {
            string Rate(Func<string, int, NicGuestTests.IRunningGuest> start)
            {
                try
                {
                    using var dir = new TempDir();
                    var r = NicGuestTests.RunGuest(dir, model, start, bytes);
                    return $"{2.0 * bytes / 1e6 / r.Out.TotalSeconds:F2} | {2.0 * bytes / 1e6 / r.Forward.TotalSeconds:F2}";
                }
                catch (Exception e) when (e is ArgumentException or AssertionException or IOException)
                {
                    return "n/a | n/a";
                }
            }
            string img = Rate((image, forward) => new NicGuestTests.ImgGuest(["-drive", $"file={image},format=raw",
                "-nic", $"user,model={model},hostfwd=tcp:127.0.0.1:{forward}-:7"]));
            string reference = Rate((image, forward) => new NicGuestTests.QemuGuest(qemu, ["-enable-kvm", "-M", "pc", "-m", "64",
                "-display", "none", "-vga", "none", "-serial", "stdio", "-drive", $"file={image},format=raw",
                "-nic", $"user,model={model},hostfwd=tcp:127.0.0.1:{forward}-:7"]));
            table.Append($"| {model} | {tutorial} | {img} | {reference} |\n");
        }
        string? output = Environment.GetEnvironmentVariable("IMG_NET_BENCH_OUT");
        if (!string.IsNullOrEmpty(output)) File.WriteAllText(output, table.ToString());
        TestContext.Out.Write(table.ToString());
    }
}
