namespace ImageTool;

/// <summary>Argument checks every block device does the same way.</summary>
internal static class BlockDeviceChecks
{
    public static void CheckRange(IBlockDevice device, long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > device.Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"Range {offset}+{length} is outside the device ({device.Length} bytes)");
    }

    public static void CheckWrite(IBlockDevice device, long offset, long length)
    {
        if (device.IsReadOnly) throw new IOException("Image is opened read-only");
        CheckRange(device, offset, length);
    }
}
