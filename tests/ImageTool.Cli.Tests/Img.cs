using System.Diagnostics;
using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>Runs the built img (as a separate process, like a user's shell does) and qemu-img side by side.</summary>
public static class Img
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "img.dll");

    public static Tools.Result Run(string workingDirectory, params string[] args) => RunWithEnvironment(workingDirectory, null, args);

    /// <summary>Runs img with extra environment variables (e.g. IMG_NBD_TIMEOUT).</summary>
    public static Tools.Result RunWithEnvironment(string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["IMG_DEBUG"] = null;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(true);
            Assert.Fail("img timed out");
        }
        return new Tools.Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Runs the same arguments through img and qemu-img in <paramref name="dir"/> and asserts identical stdout,
    /// stderr (with the program name replaced) and exit code. <paramref name="prepare"/> rebuilds the inputs
    /// before each run, so commands that write start from the same files.
    /// </summary>
    public static void AssertSameAsQemu(string dir, string[] args, Action? prepare = null)
    {
        Tools.Require("qemu-img");
        prepare?.Invoke();
        var qemu = Tools.RunIn(dir, "qemu-img", args);
        prepare?.Invoke();
        var img = Run(dir, args);
        string Norm(string s) => s.Replace("qemu-img", "img", StringComparison.Ordinal);
        string what = "img " + string.Join(' ', args);
        Assert.Multiple(() =>
        {
            Assert.That(img.Stdout, Is.EqualTo(Norm(qemu.Stdout)), $"stdout of {what}");
            Assert.That(img.Stderr, Is.EqualTo(Norm(qemu.Stderr)), $"stderr of {what}");
            Assert.That(img.ExitCode, Is.EqualTo(qemu.ExitCode), $"exit code of {what}");
        });
    }
}
