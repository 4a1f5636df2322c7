using System.Diagnostics;
using ImageTool.Kvm.Interop;

namespace ImageTool.Kvm.Machine;

/// <summary>
/// The run's trace (<c>IMG_KVM_TRACE=FILE</c>): once a second a line with the exit counts by reason, the monitor's
/// fix-ups and where the vCPU was (RIP, CPL), and at the end where the guest spent its time, from RIP samples
/// taken ten times a second (4 KiB pages, most sampled first). For learning from slow boots on emulating hosts.
/// </summary>
internal sealed class ExitTrace(TextWriter output) : IDisposable
{
    private const int SampleMs = 100, LineMs = 1000;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<string, long> _exits = [];
    private readonly Dictionary<string, long> _fixups = [];
    private readonly Dictionary<(ulong Page, int Cpl), long> _samples = [];
    private long _nextSample, _nextLine = LineMs;
    private string _where = "";

    /// <summary>The trace named by IMG_KVM_TRACE, or null.</summary>
    public static ExitTrace? FromEnvironment()
    {
        string? path = Environment.GetEnvironmentVariable("IMG_KVM_TRACE");
        return string.IsNullOrEmpty(path) ? null : new ExitTrace(new StreamWriter(path) { AutoFlush = true });
    }

    public void Exit(string reason) => Count(_exits, reason);

    public void Fixup(string kind) => Count(_fixups, kind);

    /// <summary>Samples the vCPU and writes the per-second line when due.</summary>
    public void Tick(Vcpu vcpu)
    {
        long now = _clock.ElapsedMilliseconds;
        if (now < _nextSample) return;
        _nextSample = now + SampleMs;
        var regs = vcpu.GetRegs();
        int cpl = vcpu.GetSregs().Cs.Dpl;
        Count(_samples, (regs.Rip & ~0xFFFUL, cpl));
        _where = $"rip {regs.Rip:x} cpl {cpl}";
        if (now < _nextLine) return;
        _nextLine = now + LineMs;
        output.WriteLine($"{now / 1000.0,8:F1}s {_where}  exits {Format(_exits)}  fixups {Format(_fixups)}");
    }

    public void Dispose()
    {
        output.WriteLine($"{_clock.ElapsedMilliseconds / 1000.0,8:F1}s end  exits {Format(_exits)}  fixups {Format(_fixups)}");
        long total = Math.Max(1, _samples.Values.Sum());
        foreach (var ((page, cpl), n) in _samples.OrderByDescending(s => s.Value).Take(25))
            output.WriteLine($"  {100.0 * n / total,5:F1}%  cpl {cpl}  {page:x16}");
        output.Dispose();
    }

    private static void Count<T>(Dictionary<T, long> counts, T key) where T : notnull =>
        counts[key] = counts.GetValueOrDefault(key) + 1;

    private static string Format(Dictionary<string, long> counts) =>
        string.Join(' ', counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}"));
}
