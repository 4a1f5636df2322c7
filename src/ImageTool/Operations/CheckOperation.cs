using System.Globalization;
using System.Text;
using ImageTool.Check;
using ImageTool.Info;

namespace ImageTool.Operations;

/// <summary><c>img check</c>: runs a format's check, repairs and double-checks as qemu-img does, renders the report.</summary>
public static class CheckOperation
{
    /// <summary>What a check found.</summary>
    /// <param name="Report">The check's findings (after repair, when one ran).</param>
    /// <param name="Repaired">What the check before the repair found, when a repair ran.</param>
    /// <param name="ExitCode">qemu-img check's exit code for these findings.</param>
    public sealed record Result(CheckReport Report, CheckReport? Repaired, int ExitCode);

    /// <summary>The exit code of a check on a format without checks.</summary>
    internal const int ExitNotSupported = 63;

    /// <summary>qemu's text for ENOTSUP from a check: no check at all, or (vmdk) no repair.</summary>
    internal const string NotSupportedMessage = "This image format does not support checks";

    /// <summary>Runs the check. Throws <see cref="UnsupportedFeatureException"/> when the format has none.</summary>
    /// <remarks>
    /// <paramref name="cancellationToken"/> is honoured between the passes (check, repair, re-check); a format's pass
    /// itself runs to its end (<see cref="ICheckable"/> takes no token).
    /// </remarks>
    public static Result Run(IImage image, CheckRepair repair, Action<string> log, CancellationToken cancellationToken = default)
    {
        if (image is not ICheckable checkable)
            throw new UnsupportedFeatureException(NotSupportedMessage);
        cancellationToken.ThrowIfCancellationRequested();
        var first = checkable.Check(repair, log);
        cancellationToken.ThrowIfCancellationRequested();
        CheckReport? repaired = null;
        var report = first;
        if (repair != CheckRepair.None && (first.LeaksFixed > 0 || first.CorruptionsFixed > 0))
        {
            repaired = first;
            var again = checkable.Check(CheckRepair.None, log);
            report = again with { LeaksFixed = first.LeaksFixed, CorruptionsFixed = first.CorruptionsFixed };
        }
        int exit = report.CheckErrors > 0 ? 1 : report.Corruptions > 0 ? 2 : report.Leaks > 0 ? 3 : 0;
        return new Result(report, repaired, exit);
    }

    /// <summary>The report as qemu-img check prints it.</summary>
    /// <param name="result">The check's result.</param>
    /// <returns>qemu-img's text.</returns>
    internal static string Human(Result result)
    {
        var sb = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        var r = result.Report;
        if (result.Repaired is { } fixedReport)
        {
            sb.Append("The following inconsistencies were found and repaired:\n\n");
            sb.Append(c, $"    {fixedReport.LeaksFixed} leaked clusters\n");
            sb.Append(c, $"    {fixedReport.CorruptionsFixed} corruptions\n\n");
            sb.Append("Double checking the fixed image now...\n");
        }
        if (r.Corruptions == 0 && r.Leaks == 0 && r.CheckErrors == 0)
            sb.Append("No errors were found on the image.\n");
        else
        {
            if (r.Corruptions > 0)
                sb.Append(c, $"\n{r.Corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n");
            if (r.Leaks > 0)
                sb.Append(c, $"\n{r.Leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n");
            if (r.CheckErrors > 0)
                sb.Append(c, $"\n{r.CheckErrors} internal errors have occurred during the check.\n");
        }
        if (r.StatisticsUnavailable) return sb.ToString();
        if (r.TotalClusters != 0 && r.AllocatedClusters != 0)
        {
            sb.Append(c, $"{r.AllocatedClusters}/{r.TotalClusters} = {r.AllocatedClusters * 100.0 / r.TotalClusters:F2}% allocated, ");
            sb.Append(c, $"{r.FragmentedClusters * 100.0 / r.AllocatedClusters:F2}% fragmented, ");
            sb.Append(c, $"{r.CompressedClusters * 100.0 / r.AllocatedClusters:F2}% compressed clusters\n");
        }
        if (r.ImageEndOffset != 0) sb.Append(c, $"Image end offset: {r.ImageEndOffset}\n");
        return sb.ToString();
    }

    /// <summary>The report as qemu-img check --output=json prints it.</summary>
    /// <param name="result">The check's result.</param>
    /// <param name="filename">The image's name.</param>
    /// <param name="format">The image's format.</param>
    /// <returns>qemu-img's JSON.</returns>
    internal static string Json(Result result, string filename, string format)
    {
        var r = result.Report;
        var o = new InfoObject().Add("filename", filename).Add("format", format).Add("check-errors", r.CheckErrors);
        void AddNonZero(string key, long value)
        {
            if (value != 0) o.Add(key, value);
        }
        AddNonZero("image-end-offset", r.ImageEndOffset);
        AddNonZero("total-clusters", r.TotalClusters);
        AddNonZero("allocated-clusters", r.AllocatedClusters);
        AddNonZero("fragmented-clusters", r.FragmentedClusters);
        AddNonZero("compressed-clusters", r.CompressedClusters);
        AddNonZero("corruptions", r.Corruptions);
        AddNonZero("leaks", r.Leaks);
        AddNonZero("corruptions-fixed", r.CorruptionsFixed);
        AddNonZero("leaks-fixed", r.LeaksFixed);
        return QemuJsonWriter.Write(o);
    }
}
