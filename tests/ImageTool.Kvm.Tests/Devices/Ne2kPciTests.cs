using ImageTool.Kvm.Devices;
using ImageTool.Kvm.Network;
using ImageTool.Kvm.Tests.Network;

namespace ImageTool.Kvm.Tests.Devices;

/// <summary>The RTL8029 register model (NETWORK.md §2.3) driven by register sequences, as a DP8390 driver does.</summary>
public class Ne2kPciTests
{
    private const ushort Io = 0xC200;
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    [Test]
    public void PciIdentity_And_Rtl8029Id()
    {
        using var nic = new Ne2kPci(null, Mac, (_, _) => { }, 11, Io);

        Assert.That(nic.ReadConfig(0, 4), Is.EqualTo(0x802910ECu));
        Assert.That(nic.ReadConfig(0x10, 4), Is.EqualTo(Io | 1u));
        nic.WriteConfig(0x10, 4, uint.MaxValue);
        Assert.That(nic.ReadConfig(0x10, 4), Is.EqualTo(0xFFFFFF01u), "256-byte I/O BAR");
        Assert.That(nic.Read(Io + 0x0A, 1), Is.EqualTo(0x50u));
        Assert.That(nic.Read(Io + 0x0B, 1), Is.EqualTo(0x43u));
    }

    [Test]
    public void Reset_SetsIsrRst_AndPromHoldsTheMacDoubled()
    {
        using var nic = new Ne2kPci(null, Mac, (_, _) => { }, 11, Io);
        nic.Read(Io + 0x1F, 1);
        Assert.That(nic.Read(Io + 7, 1) & 0x80, Is.EqualTo(0x80u));

        nic.Write(Io + 0x0E, 1, 0x48);          // DCR: byte transfers
        var prom = RemoteRead(nic, 0, 32, word: false);

        Assert.That(prom[..12], Is.EqualTo(new byte[] { 0x52, 0x52, 0x54, 0x54, 0, 0, 0x12, 0x12, 0x34, 0x34, 0x56, 0x56 }));
        Assert.That(prom[28..], Is.EqualTo(new byte[] { 0x57, 0x57, 0x57, 0x57 }));
        Assert.That(nic.Read(Io + 7, 1) & 0x40, Is.EqualTo(0x40u), "RDC when the count runs out");
        Assert.That(nic.Read(Io + 7, 1) & 0x80, Is.EqualTo(0u), "starting the NIC clears RST");
    }

    [Test]
    public void RemoteDma_WordWrites_ReadBack_AndReadsWrapFromPstopToPstart()
    {
        using var nic = new Ne2kPci(null, Mac, (_, _) => { }, 11, Io);
        nic.Write(Io + 0x0E, 1, 0x49);          // DCR: word transfers
        nic.Write(Io + 1, 1, 0x46);             // PSTART
        nic.Write(Io + 2, 1, 0x48);             // PSTOP
        var data = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        RemoteWrite(nic, 0x4700, data);
        RemoteWrite(nic, 0x4600, [0xAA, 0xBB]);

        var back = RemoteRead(nic, 0x47FE, 4, word: true);

        Assert.That(back, Is.EqualTo(new byte[] { 0xFE, 0xFF, 0xAA, 0xBB }));
    }

    [Test]
    public void IsrAndImr_DriveTheInterruptLine_WriteOneClears()
    {
        var levels = new List<bool>();
        using var nic = new Ne2kPci(null, Mac, (_, level) => levels.Add(level), 11, Io);
        nic.Write(Io + 0x0F, 1, 0x40);          // IMR: remote DMA complete
        nic.Write(Io + 0x0A, 1, 0);
        nic.Write(Io + 0x0B, 1, 0);
        nic.Write(Io, 1, 0x0A);                 // remote read of 0 bytes completes at once

        Assert.That(levels, Is.EqualTo(new[] { true }));
        nic.Write(Io + 7, 1, 0x40);
        Assert.That(levels, Is.EqualTo(new[] { true, false }));
    }

    [Test]
    public void Receive_FullRingHoldsFrames_UntilBnryMoves_ThenWraps()
    {
        using var network = new UserNetwork(new UserNetOptions());
        using var nic = new Ne2kPci(network, Mac, (_, _) => { }, 11, Io);
        Start(nic, pstart: 0x46, pstop: 0x49);  // three pages: room for two small frames beside BNRY
        var guest = new TestGuest(network);

        for (int i = 0; i < 3; i++) SendArpForGateway(network);

        Assert.That(Curr(nic), Is.EqualTo(0x48), "one frame stored; the second would reach BNRY");
        var header = RemoteRead(nic, 0x4700, 4, word: true);
        Assert.That(header[0], Is.EqualTo(0x01), "RSR: received intact");
        Assert.That(header[1], Is.EqualTo(0x48), "next page");
        Assert.That(header[2] | header[3] << 8, Is.EqualTo(64), "60-byte padded ARP reply + 4");
        Assert.That(RemoteRead(nic, 0x4704, 6, word: true), Is.EqualTo(Mac));

        nic.Write(Io + 3, 1, 0x47);             // BNRY: page 0x47 consumed
        Assert.That(Curr(nic), Is.EqualTo(0x46), "the held frame went to 0x48 and CURR wrapped to PSTART");
        nic.Write(Io + 3, 1, 0x48);
        Assert.That(Curr(nic), Is.EqualTo(0x47), "the third frame, held in the network meanwhile");
        Assert.That(network.Pending, Is.Zero);
    }

    [Test]
    public void Receive_OtherUnicastDropped_BroadcastNeedsAb()
    {
        using var network = new UserNetwork(new UserNetOptions());
        using var nic = new Ne2kPci(network, [0x52, 0x54, 0, 0, 0, 1], (_, _) => { }, 11, Io);
        Start(nic, pstart: 0x46, pstop: 0x80);

        SendArpForGateway(network);               // the reply goes to 52:54:00:12:34:56, not to this NIC

        Assert.That(Curr(nic), Is.EqualTo(0x47));
        Assert.That(network.Pending, Is.Zero, "filtered frames are consumed, not held");
    }

    private static void Start(Ne2kPci nic, byte pstart, byte pstop)
    {
        nic.Write(Io, 1, 0x21);
        nic.Write(Io + 0x0E, 1, 0x49);
        nic.Write(Io + 1, 1, pstart);
        nic.Write(Io + 2, 1, pstop);
        nic.Write(Io + 3, 1, pstart);
        nic.Write(Io, 1, 0x61);
        nic.Write(Io + 7, 1, (byte)(pstart + 1)); // CURR
        nic.Write(Io, 1, 0x22);
        nic.Write(Io + 0x0C, 1, 0x04);          // RCR: broadcast
    }

    private static int Curr(Ne2kPci nic)
    {
        nic.Write(Io, 1, 0x62);
        int curr = (int)nic.Read(Io + 7, 1);
        nic.Write(Io, 1, 0x22);
        return curr;
    }

    private static void SendArpForGateway(UserNetwork network)
    {
        var arp = new byte[42];
        Packet.Broadcast.CopyTo(arp, 0);
        TestGuest.Mac.CopyTo(arp, 6);
        arp[12] = 0x08; arp[13] = 0x06; arp[15] = 1; arp[16] = 0x08; arp[18] = 6; arp[19] = 4; arp[21] = 1;
        TestGuest.Mac.CopyTo(arp, 22);
        arp[28] = 10; arp[30] = 2; arp[31] = 15;
        arp[38] = 10; arp[40] = 2; arp[41] = 2;
        network.Send(arp);
    }

    private static void SetDma(Ne2kPci nic, int address, int count, byte command)
    {
        nic.Write(Io + 8, 1, (byte)address);
        nic.Write(Io + 9, 1, (byte)(address >> 8));
        nic.Write(Io + 0x0A, 1, (byte)count);
        nic.Write(Io + 0x0B, 1, (byte)(count >> 8));
        nic.Write(Io, 1, command);
    }

    private static byte[] RemoteRead(Ne2kPci nic, int address, int count, bool word)
    {
        SetDma(nic, address, count, 0x0A);
        var data = new List<byte>();
        while (data.Count < count)
        {
            uint value = nic.Read(Io + 0x10, word ? 2 : 1);
            data.Add((byte)value);
            if (word) data.Add((byte)(value >> 8));
        }
        return [.. data];
    }

    private static void RemoteWrite(Ne2kPci nic, int address, byte[] data)
    {
        SetDma(nic, address, data.Length, 0x12);
        for (int i = 0; i < data.Length; i += 2) nic.Write(Io + 0x10, 2, (uint)(data[i] | data[i + 1] << 8));
    }
}
