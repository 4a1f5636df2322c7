namespace ImageTool.Kvm.Network;

/// <summary>The guest NIC models <c>img run</c> emulates, under qemu's names.</summary>
internal enum NicModel
{
    E1000,
    VirtioNet,
    Ne2kPci,
}

/// <summary>One guest NIC and the user-mode network behind it (null: a NIC with no peer, its frames go nowhere).</summary>
internal sealed record NicSpec(NicModel Model, byte[] Mac, UserNetOptions? Backend);
