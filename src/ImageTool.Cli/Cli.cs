using System.CommandLine;
using ImageTool.Cli.Commands;

namespace ImageTool.Cli;

/// <summary>
/// The <c>img</c> front end: global flags, command dispatch and the one place where errors become
/// "img: message" lines and exit codes. Set IMG_DEBUG=1 to get stack traces.
/// </summary>
internal sealed class Cli(TextWriter stdout, TextWriter stderr)
{
    /// <summary>The name in messages: "img", or qemu-img/kvm-img when started through a link of that name.</summary>
    public static string Program { get; set; } = Invocation.Default.Program;

    private readonly CliContext _context = new(stdout, stderr);

    /// <summary>Every command: name, qemu's synopsis, and the factory of its parser.</summary>
    public static readonly IReadOnlyList<(string Name, string Synopsis, Func<CliContext, Command> Build)> Commands =
    [
        ("amend", AmendCommand.Synopsis, AmendCommand.Build),
        ("bench", BenchCommand.Synopsis, BenchCommand.Build),
        ("bitmap", BitmapCommand.Synopsis, BitmapCommand.Build),
        ("check", CheckCommand.Synopsis, CheckCommand.Build),
        ("commit", CommitCommand.Synopsis, CommitCommand.Build),
        ("compare", CompareCommand.Synopsis, CompareCommand.Build),
        ("convert", ConvertCommand.Synopsis, ConvertCommand.Build),
        ("create", CreateCommand.Synopsis, CreateCommand.Build),
        ("dd", DdCommand.Synopsis, DdCommand.Build),
        ("info", InfoCommand.Synopsis, InfoCommand.Build),
        ("map", MapCommand.Synopsis, MapCommand.Build),
        ("measure", MeasureCommand.Synopsis, MeasureCommand.Build),
        ("nbd", NbdCommand.Synopsis, NbdCommand.Build),
        ("snapshot", SnapshotCommand.Synopsis, SnapshotCommand.Build),
        ("rebase", RebaseCommand.Synopsis, RebaseCommand.Build),
        ("resize", ResizeCommand.Synopsis, ResizeCommand.Build),
    ];

    public int Run(string[] args)
    {
        try
        {
            return Dispatch(args);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"{Program}: {e.Message}");
            if (e.ShowTryHint) stderr.WriteLine($"Try '{Program} --help' for more information");
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("IMG_DEBUG") != "1")
        {
            _context.Print($"{Program}: {e.Message}", e is not ImageFormatException { EndsLine: false });
            return 1;
        }
        finally
        {
            stdout.Flush();
            stderr.Flush();
        }
    }

    private int Dispatch(string[] args)
    {
        if (args.Length == 0) throw new UsageException("Not enough arguments");
        string first = args[0];
        if (first is "-h" or "--help")
        {
            stdout.Write(HelpText.Global());
            return 0;
        }
        if (first is "-V" or "--version")
        {
            stdout.Write(HelpText.Version());
            return 0;
        }
        if (first.StartsWith('-')) throw new UsageException($"unrecognized option '{first}'");
        var entry = Commands.FirstOrDefault(c => c.Name == first);
        // img run takes qemu-system's single-dash long options, so it parses its own arguments.
        if (first == "run") return RunCommand.Run(args[1..], _context);
        if (entry.Build == null) throw new UsageException($"Command not found: {first}");
        string[] rest = args[1..];
        if (entry.Name == "resize" && !rest.Any(a => a is "-h" or "--help")) rest = ResizeCommand.PrepareArguments(rest);
        // qemu-img 7.2 has no per-command help: -h anywhere prints the usage. We print the command's part.
        if (rest.TakeWhile(a => a != "--").Any(a => a is "-h" or "--help"))
        {
            stdout.Write(HelpText.ForCommand(entry.Name, entry.Synopsis));
            return 0;
        }
        var command = entry.Build(_context);
        var normalized = ArgNormalizer.Normalize(command, rest);
        var result = command.Parse(normalized, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (result.Errors.Count > 0) throw new UsageException(result.Errors[0].Message);
        return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }
}
