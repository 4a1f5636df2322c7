using System.Globalization;

namespace ImageTool.Rbd;

/// <summary>
/// A librados cluster handle and the I/O context of one pool (and namespace), set up as qemu's rbd driver does:
/// client id, ceph.conf (the default search, <c>$CEPH_CONF</c>, when none is named), then the name's Ceph
/// options. Errors are qemu's words with strerror of librados' result.
/// </summary>
internal sealed class RbdConnection : IDisposable
{
    private nint _cluster;
    private nint _ioctx;

    private RbdConnection(nint cluster) => _cluster = cluster;

    public nint IoContext => _ioctx;

    /// <summary>
    /// How long librados may wait for monitors and OSDs (connect, each operation): IMG_RBD_TIMEOUT seconds,
    /// default 30; a ceph.conf or name option that sets client_mount_timeout, rados_mon_op_timeout or
    /// rados_osd_op_timeout wins. qemu leaves Ceph's defaults (5 minutes to connect, operations unbounded).
    /// </summary>
    public static string TimeoutSeconds
    {
        get
        {
            string? text = Environment.GetEnvironmentVariable("IMG_RBD_TIMEOUT");
            return double.TryParse(text, CultureInfo.InvariantCulture, out double s) && s > 0
                ? s.ToString(CultureInfo.InvariantCulture) : "30";
        }
    }

    public static RbdConnection Open(RbdSpec spec)
    {
        int r;
        nint cluster;
        try
        {
            r = RbdNative.Create(out cluster, spec.User);
        }
        catch (DllNotFoundException e)
        {
            // What qemu-img says when its block-rbd module (and so librbd) is not installed.
            throw new ImageFormatException("Unknown protocol 'rbd'", e);
        }
        if (r < 0) throw Error("error initializing", r);
        var connection = new RbdConnection(cluster);
        try
        {
            connection.Configure(spec);
            r = RbdNative.Connect(cluster);
            if (r < 0) throw Error("error connecting", r);
            r = RbdNative.IoctxCreate(cluster, spec.Pool, out connection._ioctx);
            if (r < 0) throw Error($"error opening pool {spec.Pool}", r);
            if (spec.Namespace.Length != 0)
            {
                r = RbdNative.NamespaceExists(connection._ioctx, spec.Namespace, out byte exists);
                if (r < 0) throw Error("error checking namespace", r);
                if (exists == 0) throw new ImageFormatException($"namespace '{spec.Namespace}' does not exist");
                RbdNative.IoctxSetNamespace(connection._ioctx, spec.Namespace);
            }
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private void Configure(RbdSpec spec)
    {
        string timeout = TimeoutSeconds;
        foreach (string option in (string[])["client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"])
            RbdNative.ConfSet(_cluster, option, timeout);
        if (spec.Conf != null)
        {
            int r = RbdNative.ConfReadFile(_cluster, spec.Conf);
            if (r < 0) throw Error($"error reading conf file {spec.Conf}", r);
        }
        else
        {
            // The default search ($CEPH_CONF, /etc/ceph/ceph.conf, ...); like qemu, a missing file is no error here.
            RbdNative.ConfReadFile(_cluster, null);
        }
        foreach (var (key, value) in spec.Settings)
        {
            int r = RbdNative.ConfSet(_cluster, key, value);
            if (r < 0) throw Error($"invalid conf option {key}", r);
        }
    }

    /// <summary>qemu's error_setg_errno: "message: strerror".</summary>
    public static ImageFormatException Error(string message, int result) =>
        new($"{message}: {RbdNative.ErrorText(result)}");

    public void Dispose()
    {
        if (_ioctx != 0) RbdNative.IoctxDestroy(_ioctx);
        if (_cluster != 0) RbdNative.Shutdown(_cluster);
        _ioctx = 0;
        _cluster = 0;
    }
}
