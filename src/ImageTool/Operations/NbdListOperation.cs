using System.Globalization;
using ImageTool.Nbd;
using ImageTool.Tls;

namespace ImageTool.Operations;

/// <summary><c>img nbd -L</c>: lists a server's exports as qemu-nbd -L prints them.</summary>
internal static class NbdListOperation
{
    // qemu-nbd's names of the transmission flags, by bit (bit 0, "has flags", has none).
    private static readonly string?[] FlagNames =
        [null, "readonly", "flush", "fua", "rotational", "trim", "zeroes", "df", "multi", "resize", "cache", "fast-zero"];

    /// <summary>
    /// Connects to the server on <paramref name="socketPath"/>, or else <paramref name="host"/> and <paramref name="port"/>,
    /// with TLS when <paramref name="tlsCreds"/> names a tls-creds-x509 object (endpoint=client), and writes its export list.
    /// </summary>
    public static void Run(string? socketPath, string host, int port, string? tlsCreds, string? tlsHostname, TextWriter output)
    {
        var address = socketPath != null ? new NbdAddress(null, 0, socketPath, "") : new NbdAddress(host, port, null, "");
        NbdClientTls? tls = null;
        if (tlsCreds != null)
        {
            try
            {
                tls = new NbdClientTls(TlsObjects.Credentials(tlsCreds, server: false), tlsHostname ?? address.Host);
            }
            catch (ImageFormatException e)
            {
                throw new ArgumentException($"Failed to get TLS creds: {e.Message}", e);
            }
        }
        var exports = NbdClient.ListExports(address, NbdRemoteFile.Timeout, tls);
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"exports available: {exports.Count}\n");
        foreach (var export in exports)
        {
            text.Append(CultureInfo.InvariantCulture, $" export: '{export.Name}'\n");
            if (export.Description.Length > 0) text.Append(CultureInfo.InvariantCulture, $"  description: {export.Description}\n");
            if (export.Flags.HasFlag(NbdTransmissionFlags.HasFlags))
            {
                text.Append(CultureInfo.InvariantCulture, $"  size:  {export.Size}\n");
                text.Append(CultureInfo.InvariantCulture, $"  flags: 0x{(int)export.Flags:x} (");
                for (int bit = 0; bit < FlagNames.Length; bit++)
                {
                    if (FlagNames[bit] != null && ((int)export.Flags & (1 << bit)) != 0) text.Append(' ').Append(FlagNames[bit]);
                }
                text.Append(" )\n");
            }
            if (export.BlockSizes is { Minimum: > 0 } sizes)
            {
                text.Append(CultureInfo.InvariantCulture, $"  min block: {sizes.Minimum}\n");
                text.Append(CultureInfo.InvariantCulture, $"  opt block: {sizes.Preferred}\n");
                text.Append(CultureInfo.InvariantCulture, $"  max block: {sizes.Maximum}\n");
            }
            if (export.Contexts.Count > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"  available meta contexts: {export.Contexts.Count}\n");
                foreach (string context in export.Contexts) text.Append(CultureInfo.InvariantCulture, $"   {context}\n");
            }
        }
        output.Write(text.ToString());
    }
}
