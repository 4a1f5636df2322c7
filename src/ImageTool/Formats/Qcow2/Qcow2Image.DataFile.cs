using ImageTool.IO;

namespace ImageTool.Formats.Qcow2;

/// <summary>
/// The external data file (incompat bit 2, header extension "DATA"): guest data lives there at the host offsets
/// the L2 entries give (with data_file_raw, at the guest offsets), while metadata stays in the qcow2 file.
/// </summary>
internal sealed partial class Qcow2Image
{
    private HostFile? _dataFile;
    private ImageFormatException? _dataFileError;

    private bool HasDataFile => (_header.IncompatibleFeatures & Qcow2Header.IncompatDataFile) != 0;

    private bool DataFileRaw => HasDataFile && (_header.AutoclearFeatures & Qcow2Header.AutoclearDataFileRaw) != 0;

    /// <summary>Where guest data clusters live: the external data file when there is one.</summary>
    private HostFile DataFile => _dataFile ?? (_dataFileError != null ? throw _dataFileError : _file);


    /// <summary>Opens the data file named in the header. qemu 7.2 takes a relative name relative to the working directory, not to the image.</summary>
    private void OpenDataFile(OpenOptions options, string? createdPath)
    {
        if (!HasDataFile) return;
        if (_header.DataFile == null)
            throw new ImageFormatException("Could not open data file: Missing data file name in the image header");
        string path = createdPath ?? _header.DataFile;
        try { _dataFile = HostFile.Open(path, options); }
        catch (ImageFormatException e) when (options.MetadataOnly)
        {
            // qemu-img info shows such an image; only reading guest data needs the data file.
            _dataFileError = e;
        }
    }
}
