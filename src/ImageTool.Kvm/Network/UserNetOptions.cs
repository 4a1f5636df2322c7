using System.Net;

namespace ImageTool.Kvm.Network;

/// <summary>A host forwarding rule (<c>hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport</c>).</summary>
internal sealed record HostForward(bool Udp, IPAddress HostAddress, int HostPort, IPAddress GuestAddress, int GuestPort, string Rule);

/// <summary>The keys of qemu's <c>-netdev user</c> that the user-mode network honours.</summary>
internal sealed record UserNetOptions
{
    public static readonly IPAddress DefaultGuest = IPAddress.Parse("10.0.2.15");

    public bool Restrict { get; init; }
    public IReadOnlyList<HostForward> HostForwards { get; init; } = [];
    public string? Hostname { get; init; }
    public string? SmbDirectory { get; init; }
}
