namespace ImageTool.Cli;

/// <summary>
/// The name img was started under. The tutorial's command lines say <c>kvm-img</c> and <c>kvm</c>: through a link
/// named like qemu-img img names itself so in its messages; through a link named like qemu-system it is <c>img run</c>.
/// </summary>
internal sealed record Invocation(string Program, bool IsRunner)
{
    public static readonly Invocation Default = new("img", IsRunner: false);

    private static readonly string[] ImageToolNames = ["qemu-img", "kvm-img"];
    private static readonly string[] RunnerNames = ["kvm", "qemu-kvm", "qemu-system-x86_64"];

    public static Invocation FromName(string argumentZero)
    {
        string name = Path.GetFileName(argumentZero);
        if (ImageToolNames.Contains(name)) return new Invocation(name, IsRunner: false);
        if (RunnerNames.Contains(name)) return new Invocation(name, IsRunner: true);
        return Default;
    }

    /// <summary>argv[0] as the shell passed it: <see cref="Environment.ProcessPath"/> has links resolved.</summary>
    public static Invocation FromProcess()
    {
        try
        {
            byte[] cmdline = File.ReadAllBytes("/proc/self/cmdline");
            int end = Array.IndexOf(cmdline, (byte)0);
            return FromName(System.Text.Encoding.UTF8.GetString(cmdline, 0, end < 0 ? cmdline.Length : end));
        }
        catch (IOException)
        {
            return Default;
        }
        catch (UnauthorizedAccessException)
        {
            return Default;
        }
    }
}
