using System.Text;
using ImageTool.Kvm;

namespace ImageTool.Kvm.Tests.Support;

/// <summary>Builds tiny guests with nasm and runs them in-process, capturing the console.</summary>
public static class Guest
{
    public sealed record Result(int ExitCode, string Output);

    /// <summary>Skips without a usable /dev/kvm (fails under CI=true, where .ci/run provides it).</summary>
    public static void RequireKvm()
    {
        try
        {
            using var f = File.Open("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (Tools.InCi) Assert.Fail($"/dev/kvm is required under CI=true: {e.Message}");
            Assert.Ignore($"/dev/kvm is not usable: {e.Message}");
        }
    }

    /// <summary>Assembles a flat binary (nasm -f bin).</summary>
    public static byte[] Assemble(TempDir dir, string name, string source)
    {
        string asm = dir[name + ".asm"], bin = dir[name + ".bin"];
        File.WriteAllText(asm, source);
        Tools.Run("nasm", "-f", "bin", "-o", bin, asm).Ok();
        return File.ReadAllBytes(bin);
    }

    /// <summary>Runs <c>img run</c> arguments until the guest stops, or until <paramref name="until"/> appears in its output.</summary>
    public static Result Run(IReadOnlyList<string> args, string? until = null, string input = "", int timeoutSeconds = 60)
    {
        var output = new CapturingStream();
        using var console = new GuestConsole(output);
        using var cancel = new CancellationTokenSource();
        if (input.Length > 0) console.Type(Encoding.ASCII.GetBytes(input));
        int exitCode = -1;
        Exception? failure = null;
        var runner = new Thread(() =>
        {
            try { exitCode = KvmRunner.Run(RunOptions.Parse(args), console, cancel.Token); }
            catch (Exception e) { failure = e; }
        });
        runner.Start();
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!runner.Join(10))
        {
            if ((until != null && output.Text.Contains(until, StringComparison.Ordinal)) || DateTime.UtcNow > deadline)
            {
                // Let the guest print a little more (SAY text after a prompt), then stop it.
                Thread.Sleep(until != null && DateTime.UtcNow <= deadline ? 300 : 0);
                cancel.Cancel();
                runner.Join();
                break;
            }
        }
        if (failure != null) throw failure;
        return new Result(exitCode, output.Text);
    }

    private sealed class CapturingStream : MemoryStream
    {
        private readonly Lock _lock = new();

        public string Text
        {
            get
            {
                lock (_lock) return Encoding.ASCII.GetString(GetBuffer(), 0, (int)Length);
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock) base.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            lock (_lock) base.Write(buffer);
        }

        public override void WriteByte(byte value)
        {
            lock (_lock) base.WriteByte(value);
        }
    }
}
