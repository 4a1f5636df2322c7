using System.CommandLine;
using ImageTool.Operations;

namespace ImageTool.Cli.Commands;

internal static class SnapshotCommand
{
    public const string Synopsis = "[--object objectdef] [--image-opts] [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename";

    public static Command Build(CliContext context)
    {
        var objects = CommonOptions.Objects();
        var imageOpts = CommonOptions.ImageOpts();
        var forceShare = CommonOptions.ForceShare();
        var quiet = CommonOptions.Quiet();
        var list = new Option<bool>("-l") { Description = "list all snapshots" };
        var apply = new Option<string?>("-a") { HelpName = "snapshot", Description = "revert the disk to a snapshot" };
        var create = new Option<string?>("-c") { HelpName = "snapshot", Description = "create a snapshot" };
        var delete = new Option<string?>("-d") { HelpName = "snapshot", Description = "delete a snapshot" };
        var files = CommonOptions.Files();
        var command = new Command("snapshot", "list, create, apply or delete internal snapshots")
            { objects, imageOpts, forceShare, quiet, list, apply, create, delete, files };
        command.SetAction(result =>
        {
            bool listing = result.GetValue(list);
            string? applyName = result.GetValue(apply), createName = result.GetValue(create), deleteName = result.GetValue(delete);
            int actions = (listing ? 1 : 0) + (applyName != null ? 1 : 0) + (createName != null ? 1 : 0) + (deleteName != null ? 1 : 0);
            if (actions > 1) throw new UsageException("Cannot mix '-l', '-a', '-c', '-d'");
            var names = result.GetValue(files) ?? [];
            if (names.Length != 1) throw new UsageException("Expecting one image file name");
            bool forceShared = result.GetValue(forceShare);
            var (path, options) = CommonOptions.Source(names[0], null, result.GetValue(imageOpts), forceShared,
                CommonOptions.Secrets(result, objects), context);
            if (actions == 0)
            {
                // qemu-img 7.2 opens the image and does nothing.
                using var _ = DiskImage.Open(path, options with { ReadOnly = false, OpenBacking = false });
                return 0;
            }
            var warnings = new List<ImageWarning>();
            using var image = DiskImage.Open(path, options with
            {
                ReadOnly = listing,
                OpenBacking = false,
                Warning = w => { warnings.Add(w); context.Warn(w); },
            });
            // qemu reopens a driver without snapshots around the failed revert, so its open warnings repeat.
            if (applyName != null && SnapshotOperation.ReopensOnApply(image)) warnings.ForEach(context.Warn);
            if (listing) context.Out.Write(SnapshotOperation.List(image));
            else if (createName != null) SnapshotOperation.Create(image, createName, DateTimeOffset.Now, m => context.Err.WriteLine($"{Cli.Program}: {m}"));
            else if (applyName != null) SnapshotOperation.Apply(image, applyName, m => context.Err.WriteLine($"{Cli.Program}: {m}"));
            else SnapshotOperation.Delete(image, deleteName!);
            return 0;
        });
        return command;
    }
}
