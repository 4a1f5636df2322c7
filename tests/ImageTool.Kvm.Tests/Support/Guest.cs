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
        using var running = Start(args, input);
        if (until == null) running.WaitForExit(timeoutSeconds);
        else if (running.WaitFor(until, timeoutSeconds))
        {
            Thread.Sleep(300); // let the guest print a little more (SAY text after a prompt)
        }
        return running.Stop();
    }

    /// <summary>Starts a guest on its own thread; stop it with <see cref="Running.Stop"/>.</summary>
    public static Running Start(IReadOnlyList<string> args, string input = "") => new(args, input);

    public sealed class Running : IDisposable
    {
        private readonly CapturingStream _output = new();
        private readonly GuestConsole _console;
        private readonly CancellationTokenSource _cancel = new();
        private readonly Thread _thread;
        private int _exitCode = -1;
        private Exception? _failure;

        internal Running(IReadOnlyList<string> args, string input)
        {
            _console = new GuestConsole(_output);
            if (input.Length > 0) _console.Type(Encoding.ASCII.GetBytes(input));
            var options = RunOptions.Parse(args);
            _thread = new Thread(() =>
            {
                try { _exitCode = KvmRunner.Run(options, _console, _cancel.Token); }
                catch (Exception e) { _failure = e; }
            });
            _thread.Start();
        }

        public string Output => _output.Text;

        /// <summary>True when the text appeared (false when the guest stopped or the time ran out first).</summary>
        public bool WaitFor(string text, int timeoutSeconds)
        {
            var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
            while (!Output.Contains(text, StringComparison.Ordinal))
            {
                if (_thread.Join(10) || DateTime.UtcNow > deadline) return Output.Contains(text, StringComparison.Ordinal);
            }
            return true;
        }

        public void WaitForExit(int timeoutSeconds) => _thread.Join(TimeSpan.FromSeconds(timeoutSeconds));

        /// <summary>Stops the guest (as Ctrl-A x would) and returns how it ended; rethrows the runner's exception.</summary>
        public Result Stop()
        {
            _cancel.Cancel();
            _thread.Join();
            if (_failure != null) throw _failure;
            return new Result(_exitCode, Output);
        }

        public void Dispose()
        {
            _cancel.Cancel();
            _thread.Join();
            _console.Dispose();
            _cancel.Dispose();
        }
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
