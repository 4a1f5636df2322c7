using System.Buffers.Binary;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm.Tests.Network;

/// <summary>
/// <c>smb=DIR</c> (NETWORK.md §1.6): Debian's smbd with a private configuration answers the guest at
/// 10.0.2.4:445; a DIR that does not exist is one error line, the same as qemu-system's.
/// </summary>
public class SmbShareTests
{
    private static readonly uint Smb = Packet.Ip(10, 0, 2, 4);

    [Test]
    public void Negotiate_To10_0_2_4_445_AnsweredBySmbd([Values] bool restrict)
    {
        Tools.Require("smbd");
        using var dir = new TempDir();
        using var network = new UserNetwork(new UserNetOptions { SmbDirectory = dir.Path, Restrict = restrict });
        var guest = new TestGuest(network);

        network.Send(TestGuest.ArpRequest(Smb));
        var arp = guest.WaitFor(f => TestGuest.EtherType(f) == Packet.TypeArp);
        Assert.That(arp.AsSpan(22, 6).ToArray(), Is.EqualTo(Packet.VirtualMac(Smb)), "10.0.2.4 answers ARP with smb=");

        guest.SendTcp(Smb, 40100, 445, 1000, 0, TcpHeader.Syn, options: [2, 4, 0x05, 0xB4]);
        var synAck = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 40100), 20_000)).ToArray();
        Assert.That(synAck[13], Is.EqualTo(TcpHeader.Syn | TcpHeader.Ack), "smbd accepted the connection");
        uint their = BinaryPrimitives.ReadUInt32BigEndian(synAck.AsSpan(4)) + 1;
        guest.SendTcp(Smb, 40100, 445, 1001, their, TcpHeader.Ack);
        var request = NegotiateRequest();
        guest.SendTcp(Smb, 40100, 445, 1001, their, TcpHeader.Ack | TcpHeader.Psh, request);

        var reply = new MemoryStream();
        while (reply.Length < 4 || reply.Length < 4 + (BinaryPrimitives.ReadUInt32BigEndian(reply.GetBuffer()) & 0xFFFFFF))
        {
            var frame = guest.WaitFor(f => TestGuest.IsTcp(f, 40100) && TestGuest.IpPayload(f).Length > 20, 20_000);
            var tcp = TestGuest.IpPayload(frame);
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]), Is.EqualTo(their + (uint)reply.Length));
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(14 + 12)), Is.EqualTo(Smb), "from 10.0.2.4");
            reply.Write(tcp[((tcp[12] >> 4) * 4)..]);
            guest.SendTcp(Smb, 40100, 445, 1001 + (uint)request.Length, their + (uint)reply.Length, TcpHeader.Ack);
        }
        var smb2 = reply.ToArray().AsSpan(4);
        Assert.That(smb2[..4].ToArray(), Is.EqualTo(new byte[] { 0xFE, (byte)'S', (byte)'M', (byte)'B' }));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(smb2[12..]), Is.Zero, "NEGOTIATE");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(smb2[8..]), Is.Zero, "STATUS_SUCCESS");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(smb2[16..]) & 1, Is.EqualTo(1), "SERVER_TO_REDIR");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(smb2[64..]), Is.EqualTo(65), "negotiate response size");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(smb2[68..]), Is.AnyOf(0x0202, 0x0210), "one of the offered dialects");
        guest.SendTcp(Smb, 40100, 445, 1001 + (uint)request.Length, their + (uint)reply.Length, TcpHeader.Rst);
    }

    [Test]
    public void OtherPortsOn10_0_2_4_AnswerRst()
    {
        Tools.Require("smbd");
        using var dir = new TempDir();
        using var network = new UserNetwork(new UserNetOptions { SmbDirectory = dir.Path });
        var guest = new TestGuest(network);

        guest.SendTcp(Smb, 40101, 22, 1, 0, TcpHeader.Syn);

        var rst = TestGuest.IpPayload(guest.WaitFor(f => TestGuest.IsTcp(f, 40101))).ToArray();
        Assert.That(rst[13], Is.EqualTo(TcpHeader.Rst | TcpHeader.Ack));
    }

    [Test]
    public void MissingDirectory_OneErrorLine_AsQemuSystem()
    {
        Tools.Require("smbd");
        string qemu = Tools.Require("qemu-system-x86_64");
        using var dir = new TempDir();
        string missing = dir["no-such-dir"];

        var e = Assert.Throws<ArgumentException>(() => new UserNetwork(new UserNetOptions { SmbDirectory = missing }).Dispose());
        var reference = Tools.Run(qemu, "-M", "none", "-nodefaults", "-display", "none", "-nic", $"user,smb={missing}");

        Assert.That(e!.Message, Is.EqualTo($"Error accessing shared directory '{missing}': No such file or directory"));
        Assert.That(reference.ExitCode, Is.Not.Zero);
        Assert.That(reference.Stderr.Trim(), Does.EndWith(": " + e.Message));
    }

    // NetBIOS session header + SMB2 header (MS-SMB2 2.2.1.2) + NEGOTIATE request (2.2.3) offering 2.0.2 and 2.1.
    private static byte[] NegotiateRequest()
    {
        var message = new byte[4 + 64 + 36 + 4];
        var smb2 = message.AsSpan(4);
        BinaryPrimitives.WriteUInt32BigEndian(message, (uint)(message.Length - 4));
        smb2[0] = 0xFE;
        smb2[1] = (byte)'S';
        smb2[2] = (byte)'M';
        smb2[3] = (byte)'B';
        BinaryPrimitives.WriteUInt16LittleEndian(smb2[4..], 64);   // header size
        BinaryPrimitives.WriteUInt16LittleEndian(smb2[14..], 1);   // credits requested
        var body = smb2[64..];
        BinaryPrimitives.WriteUInt16LittleEndian(body, 36);        // structure size
        BinaryPrimitives.WriteUInt16LittleEndian(body[2..], 2);    // dialect count
        BinaryPrimitives.WriteUInt16LittleEndian(body[4..], 1);    // signing enabled
        for (int i = 0; i < 16; i++) body[12 + i] = (byte)(0x10 + i); // client GUID
        BinaryPrimitives.WriteUInt16LittleEndian(body[36..], 0x0202);
        BinaryPrimitives.WriteUInt16LittleEndian(body[38..], 0x0210);
        return message;
    }
}
