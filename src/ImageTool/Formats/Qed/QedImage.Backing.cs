namespace ImageTool.Formats.Qed;

/// <summary>rebase and amend: the backing file name rewritten right after the header, as qemu's bdrv_qed_change_backing_file does.</summary>
internal sealed partial class QedImage : IBackingFileChanger
{
    public void ChangeBackingFile(string? fileName, string? format)
    {
        if (_header.CompatFeatures != 0) throw new UnsupportedFeatureException("Operation not supported");
        byte[] name = fileName == null ? [] : System.Text.Encoding.UTF8.GetBytes(fileName);
        ulong features = _header.Features & ~(QedHeader.FeatureBackingFile | QedHeader.FeatureBackingFormatNoProbe);
        if (fileName != null)
        {
            features |= QedHeader.FeatureBackingFile;
            if (format == "raw") features |= QedHeader.FeatureBackingFormatNoProbe;
        }
        if (QedHeader.Size + name.Length > (long)_header.HeaderSize * _clusterSize)
            throw new ImageFormatException("No space left on device");
        lock (_writeLock)
        {
            _header = _header with { Features = features, BackingFilenameOffset = QedHeader.Size, BackingFilenameSize = (uint)name.Length };
            var buffer = new byte[QedHeader.Size + name.Length];
            _header.Write(buffer);
            name.CopyTo(buffer, QedHeader.Size);
            _file.Write(0, buffer);
            _file.Flush();
            BackingFileName = fileName;
        }
    }
}
