namespace ImageTool.Tls;

/// <summary>qemu's <c>authz-simple,id=ID,identity=DN</c>: the one client certificate name let in.</summary>
internal sealed record SimpleAuthorization(string Identity);
