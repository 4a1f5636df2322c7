using System.Net;
using System.Net.Sockets;

namespace ImageTool.Kvm.Network;

/// <summary>The host's DNS server: the first IPv4 <c>nameserver</c> of /etc/resolv.conf, else 127.0.0.1 (as slirp).</summary>
internal static class HostResolver
{
    public static IPAddress Address(string path = "/etc/resolv.conf")
    {
        try
        {
            foreach (string line in File.ReadLines(path))
            {
                var words = line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (words.Length >= 2 && words[0] == "nameserver" && IPAddress.TryParse(words[1], out var address)
                    && address.AddressFamily == AddressFamily.InterNetwork) return address;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return IPAddress.Loopback;
    }
}
