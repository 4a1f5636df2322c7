using System.Reflection;
using System.Text;

namespace ImageTool.Cli;

/// <summary>The texts of --help and --version.</summary>
internal static class HelpText
{
    public static string Version()
    {
        string version = typeof(HelpText).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        int plus = version.IndexOf('+');
        if (plus >= 0) version = version[..plus];
        return $"{Cli.Program} version {version} (ImageTool, compatible with qemu-img 7.2)\n";
    }

    public static string Global()
    {
        var sb = new StringBuilder();
        sb.Append(Version());
        sb.Append($"usage: {Cli.Program} [standard options] command [command options]\n");
        sb.Append("ImageTool disk image utility (a drop-in for qemu-img)\n\n");
        sb.Append("    '-h', '--help'       display this help and exit\n");
        sb.Append("    '-V', '--version'    output version information and exit\n\n");
        sb.Append("Command syntax:\n");
        foreach (var (name, synopsis, _) in Cli.Commands)
            sb.Append($"  {name} {synopsis}\n");
        sb.Append(Parameters);
        sb.Append("\nSupported formats: ").Append(string.Join(' ', DiskImage.DriverNames.Order(StringComparer.Ordinal))).Append('\n');
        return sb.ToString();
    }

    public static string ForCommand(string name, string synopsis) =>
        $"usage: {Cli.Program} {name} {synopsis}\n" + Parameters;

    private const string Parameters = """

        Command parameters:
          'filename' is a disk image filename
          'objectdef' is an object definition; 'secret,id=ID,data=TEXT' (or file=PATH) supplies
            the password of an encrypted image, named by -o encrypt.key-secret=ID
          'fmt' is the disk image format; it is probed from the content when omitted
          'cache' is the cache mode: none, writeback, writethrough, directsync or unsafe
          'size' is a size in bytes, optionally with one of the suffixes k, M, G, T, P, E
            (powers of 1024; 'b' means bytes)
          'output_filename' is the destination image, 'output_fmt' its format
          'options' is a comma separated list of name=value format options; '-o help' lists them
          'snapshot_param' is 'snapshot.id=[ID],snapshot.name=[NAME]' or '[ID_OR_NAME]'
          '-c' compresses the target's clusters (qcow2, qcow, vmdk streamOptimized)
          '-u' allows unsafe backing chains (the backing file is not opened)
          '-p' shows progress, '-q' prints nothing but errors

        """;
}
