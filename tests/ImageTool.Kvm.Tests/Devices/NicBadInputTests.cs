using ImageTool.Kvm.Devices;
using ImageTool.Kvm.Machine;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Tests.Devices;

/// <summary>
/// Guests that post garbage to the NICs: rings outside RAM, descriptor loops, runaway indexes, oversized frames.
/// The device stops or skips what is bad and the runner goes on (no exception reaches the vCPU loop).
/// </summary>
public class NicBadInputTests
{
    private const ushort Io = 0xC200;
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    [Test]
    public void VirtioNet_RingOutsideRam_SetsNeedsReset()
    {
        using var memory = new GuestMemory(1 << 20);
        using var network = new UserNetwork(new UserNetOptions());
        using var nic = new VirtioNet(memory, network, Mac, (_, _) => { }, 11, Io);
        nic.Write(Io + 0x0E, 2, 1);
        nic.Write(Io + 0x08, 4, 0xFFFFF);          // transmit ring at 4 GiB - 4 KiB
        nic.Write(Io + 0x12, 1, 7);

        Assert.DoesNotThrow(() => nic.Write(Io + 0x10, 2, 1));
        Assert.That(nic.Read(Io + 0x12, 1) & 0x40, Is.EqualTo(0x40u), "DEVICE_NEEDS_RESET");
    }

    [Test]
    public void VirtioNet_DescriptorLoop_AndRunawayAvailIndex_Terminate()
    {
        using var memory = new GuestMemory(1 << 20);
        using var network = new UserNetwork(new UserNetOptions());
        using var nic = new VirtioNet(memory, network, Mac, (_, _) => { }, 11, Io);
        const ulong ring = 0x10000;
        nic.Write(Io + 0x0E, 2, 1);
        nic.Write(Io + 0x08, 4, (uint)(ring >> 12));
        nic.Write(Io + 0x12, 1, 7);
        memory.WriteUInt64(ring, 0x20000);         // descriptor 0: 100 bytes, NEXT -> itself
        memory.WriteUInt32(ring + 8, 100);
        memory.WriteUInt16(ring + 12, Vring.DescNext);
        memory.WriteUInt16(ring + 14, 0);
        memory.WriteUInt16(ring + 16 * 256 + 2, 60000); // avail idx: 60000 chains "posted"

        Assert.DoesNotThrow(() => nic.Write(Io + 0x10, 2, 1));
        Assert.That(nic.Read(Io + 0x12, 1) & 0x40, Is.EqualTo(0x40u), "the loop faults the device");
        nic.Write(Io + 0x12, 1, 0);                 // the driver resets it and the device works again
        Assert.That(nic.Read(Io + 0x12, 1), Is.Zero);
    }

    [Test]
    public void E1000_TransmitRingOutsideRam_RunawayTail_OversizedChain()
    {
        using var memory = new GuestMemory(1 << 20);
        using var network = new UserNetwork(new UserNetOptions());
        using var nic = new E1000(memory, network, Mac, (_, _) => { }, 11, 0xFEB00000, Io);
        nic.Write(0x400UL, 4, 2);                     // TCTL.EN
        nic.Write(0x3800UL, 4, 0xFFF00000);           // TDBAL outside RAM
        nic.Write(0x3808UL, 4, 16 * 16);
        Assert.DoesNotThrow(() => nic.Write(0x3818UL, 4, 5));

        // 16 legacy descriptors of 16 KiB without EOP (256 KiB, beyond any frame), then a tail far past the ring.
        const ulong ring = 0x10000;
        for (int i = 0; i < 16; i++)
        {
            memory.WriteUInt64(ring + 16UL * (ulong)i, 0x20000);
            memory.WriteUInt16(ring + 16UL * (ulong)i + 8, 0x4000);
            memory.WriteByte(ring + 16UL * (ulong)i + 11, 0x08); // RS only
        }
        nic.Write(0x3800UL, 4, (uint)ring);
        nic.Write(0x3810UL, 4, 0);
        Assert.DoesNotThrow(() => nic.Write(0x3818UL, 4, 0xFFFF));
        Assert.That(nic.Read(0x3810UL, 4), Is.LessThan(16u), "head stays inside the ring");
    }

    [Test]
    public void E1000_ReceiveRingOutsideRam_StopsReceiving()
    {
        using var memory = new GuestMemory(1 << 20);
        using var network = new UserNetwork(new UserNetOptions());
        using var nic = new E1000(memory, network, Mac, (_, _) => { }, 11, 0xFEB00000, Io);
        nic.Write(0x2800UL, 4, 0xFFF00000);
        nic.Write(0x2808UL, 4, 8 * 16);
        nic.Write(0x2818UL, 4, 7);
        nic.Write(0x100UL, 4, 2);                     // RCTL.EN

        Assert.DoesNotThrow(() => network.Send(ArpForGateway()));
        Assert.That(nic.Read(0x100UL, 4) & 2, Is.Zero, "RCTL.EN cleared until the driver sets the ring up again");
    }

    [Test]
    public void Ne2k_TransmitLengthBeyondCardMemory_AndBadRingPointers_AreIgnored()
    {
        using var network = new UserNetwork(new UserNetOptions());
        using var nic = new Ne2kPci(network, Mac, (_, _) => { }, 11, Io);
        nic.Write(Io + 4, 1, 0x40);                 // TPSR
        nic.Write(Io + 5, 1, 0xFF);                 // TBCR = 0xFFFF: past the 48 KiB card
        nic.Write(Io + 6, 1, 0xFF);
        Assert.DoesNotThrow(() => nic.Write(Io, 1, 0x26));
        Assert.That(nic.Read(Io + 7, 1) & 0x02, Is.EqualTo(0x02u), "PTX all the same, as the card does");

        nic.Write(Io + 1, 1, 0x80);                 // PSTART after PSTOP
        nic.Write(Io + 2, 1, 0x46);
        nic.Write(Io + 0x0C, 1, 0x04);
        Assert.DoesNotThrow(() => network.Send(ArpForGateway()));
        Assert.That(network.Pending, Is.EqualTo(1), "the reply waits: no valid ring to store it in");
    }

    private static byte[] ArpForGateway()
    {
        var arp = new byte[42];
        Packet.Broadcast.CopyTo(arp, 0);
        Mac.CopyTo(arp, 6);
        arp[12] = 0x08; arp[13] = 0x06; arp[15] = 1; arp[16] = 0x08; arp[18] = 6; arp[19] = 4; arp[21] = 1;
        Mac.CopyTo(arp, 22);
        arp[28] = 10; arp[30] = 2; arp[31] = 15;
        arp[38] = 10; arp[40] = 2; arp[41] = 2;
        return arp;
    }
}
