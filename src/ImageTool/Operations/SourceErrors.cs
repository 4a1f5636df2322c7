namespace ImageTool.Operations;

/// <summary>
/// Failures reading a source image, worded as qemu-img words them: qemu sees broken metadata and failed host
/// reads as errno values (EIO), so commands print their own prefix and "Input/output error".
/// </summary>
internal static class SourceErrors
{
    public static bool IsReadFailure(Exception e) => e is ImageCorruptException or IOException;

    /// <summary>qemu's strerror text for a read failure.</summary>
    public static string Errno(Exception e) => e is IOException { Message: { Length: > 0 } message } && e is not EndOfStreamException
        ? message
        : "Input/output error";

    public static BlockStatus Status(IImage image, long offset, long length, string prefix)
    {
        try
        {
            return BackingChain.GetStatus(image, offset, length);
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            throw new ImageFormatException($"{prefix}{Errno(e)}", e);
        }
    }

    public static void Read(IImage image, long offset, Span<byte> buffer)
    {
        try
        {
            image.Read(offset, buffer);
        }
        catch (Exception e) when (IsReadFailure(e))
        {
            throw new ImageFormatException($"error while reading at byte {offset}: {Errno(e)}", e);
        }
    }
}
