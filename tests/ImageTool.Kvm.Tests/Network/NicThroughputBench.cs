using ImageTool.Kvm.Tests.Support;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>
/// Opt-in TCP throughput bench (tools/bench/bench.sh runs it): the micro guest sends IMG_NET_BENCH_MIB MiB to the
/// host through the NAT (guest→host), then receives as many through hostfwd (host→guest), under img run and under
/// qemu-system-x86_64 -enable-kvm with the same NIC and -net user; also the time from start to the guest's DHCP
/// lease (img in-process, qemu a process with SeaBIOS). IMG_NET_BENCH_NICS=virtio,e1000 measures only those NICs. The table goes to IMG_NET_BENCH_OUT or the test output,
/// next to the tutorial's scp figures.
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
        table.Append("| NIC | tutorial (scp, Linux guest) | img g→h MB/s | qemu g→h MB/s | ratio | img h→g MB/s | qemu h→g MB/s | ratio | img lease s | qemu lease s | ratio |\n");
        table.Append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        string[] only = (Environment.GetEnvironmentVariable("IMG_NET_BENCH_NICS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        foreach (var (model, tutorial) in new[] { ("virtio", "10.6-11.1 MB/s"), ("e1000", "4.8-5.4 MB/s"), ("ne2k_pci", "200-300 KB/s") })
        {
            if (only.Length > 0 && !only.Contains(model)) continue;
            NicGuestTests.Outcome? Measure(Func<string, int, NicGuestTests.IRunningGuest> start)
            {
                try
                {
                    using var dir = new TempDir();
                    return NicGuestTests.RunGuest(dir, model, start, bytes, oneWay: true);
                }
                catch (Exception e) when (e is ArgumentException or AssertionException or IOException or AggregateException or System.Net.Sockets.SocketException)
                {
                    TestContext.Out.WriteLine($"{model}: {e.Message}");
                    return null;
                }
            }
            var img = Measure((image, forward) => new NicGuestTests.ImgGuest(["-drive", $"file={image},format=raw",
                "-nic", $"user,model={model},hostfwd=tcp:127.0.0.1:{forward}-:7"]));
            var reference = Measure((image, forward) => new NicGuestTests.QemuGuest(qemu, ["-enable-kvm", "-M", "pc", "-m", "64",
                "-display", "none", "-vga", "none", "-serial", "stdio", "-drive", $"file={image},format=raw",
                "-nic", $"user,model={model},hostfwd=tcp:127.0.0.1:{forward}-:7"]));
            string Rate(NicGuestTests.Outcome? o, Func<NicGuestTests.Outcome, TimeSpan> time) => o == null ? "n/a" : $"{bytes / 1e6 / time(o).TotalSeconds:F2}";
            string Ratio(Func<NicGuestTests.Outcome, TimeSpan> time, bool faster) => img == null || reference == null ? "n/a"
                : faster ? $"{time(reference) / time(img):F2}×" : $"{time(img) / time(reference):F2}";
            string Seconds(NicGuestTests.Outcome? o) => o == null ? "n/a" : $"{o.Lease.TotalSeconds:F2}";
            table.Append($"| {model} | {tutorial} | {Rate(img, o => o.Out)} | {Rate(reference, o => o.Out)} | {Ratio(o => o.Out, true)} "
                + $"| {Rate(img, o => o.Forward)} | {Rate(reference, o => o.Forward)} | {Ratio(o => o.Forward, true)} "
                + $"| {Seconds(img)} | {Seconds(reference)} | {Ratio(o => o.Lease, false)} |\n");
        }
        string? output = Environment.GetEnvironmentVariable("IMG_NET_BENCH_OUT");
        if (!string.IsNullOrEmpty(output)) File.WriteAllText(output, table.ToString());
        TestContext.Out.Write(table.ToString());
    }
}
