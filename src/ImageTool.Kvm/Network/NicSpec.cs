namespace ImageTool.Kvm.Network;

/// <summary>The guest NIC models <c>img run</c> emulates, under qemu's names.</summary>
internal enum NicModel
{
    E1000,
    VirtioNet,
    Ne2kPci,
}

/// <summary>One guest NIC and the user-mode network behind it (null: a NIC with no peer, its frames go nowhere).</summary>
/// <param name="Model">The emulated NIC.</param>
/// <param name="Mac">Its MAC address (52:54:00:12:34:56 and up by default).</param>
/// <param name="Backend">The user-mode network it is plugged into, null for none.</param>
/// <param name="IsDefault">qemu's default NIC, given without any network option.</param>
internal sealed record NicSpec(NicModel Model, byte[] Mac, UserNetOptions? Backend, bool IsDefault = false);
