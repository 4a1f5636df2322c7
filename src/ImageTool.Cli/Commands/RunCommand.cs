using ImageTool.Kvm;

namespace ImageTool.Cli.Commands;

/// <summary>
/// <c>img run</c>: boots images under KVM with qemu-system-x86_64's option spelling (single-dash long options,
/// parsed by <see cref="RunOptions.Parse"/> rather than System.CommandLine). All behaviour is in ImageTool.Kvm.
/// </summary>
internal static class RunCommand
{
    public const string Synopsis = "[-m megs] [-hda file] [-hdb file] [-cdrom file] [-boot c|d] " +
        "[-drive file=file[,format=fmt][,if=ide|virtio][,media=disk|cdrom][,readonly=on]] [-snapshot] " +
        "[-kernel bzImage [-initrd file] [-append cmdline]] [-nographic] [-serial stdio]";

    public static int Run(string[] args, CliContext context)
    {
        if (args.Any(a => a is "-h" or "--help" or "-help"))
        {
            context.Out.Write(HelpText.ForCommand("run", Synopsis));
            context.Out.Write("The guest console is stdin/stdout (serial and BIOS text); Ctrl-A x quits.\n");
            return 0;
        }
        RunOptions options;
        try
        {
            options = RunOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        context.Out.Flush();
        using var console = new TerminalConsole();
        return KvmRunner.Run(options, console, warning: context.Warn);
    }
}
