using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ImageTool.Kvm.Network;

/// <summary>
/// Collects qemu's network options in command-line order and resolves them into NICs the way qemu 7.2 does
/// (NETWORK.md §1.7): <c>-net nic</c>/<c>-net user</c> share hub 0, <c>-nic user,model=M</c> and
/// <c>-netdev user,id=X -device M,netdev=X</c> pair one NIC with its own stack, <c>-net none</c>/<c>-nic none</c>
/// remove them, and no option at all means an e1000 on user-mode networking.
/// </summary>
internal sealed class NetworkOptions
{
    public static readonly byte[] FirstMac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    private readonly List<(NicModel Model, byte[]? Mac)> _hubNics = [];
    private readonly List<UserNetOptions> _hubUsers = [];
    private readonly List<(NicModel Model, byte[]? Mac, UserNetOptions? Backend)> _direct = [];
    private readonly Dictionary<string, UserNetOptions> _netdevs = [];
    private bool _seen, _none;

    /// <summary>Handles <c>-net</c>, <c>-nic</c>, <c>-netdev</c>, <c>-device</c>; false for other options.</summary>
    public bool TryAdd(string option, string value)
    {
        switch (option)
        {
            case "-net": AddNet(value); break;
            case "-nic": AddNic(value); break;
            case "-netdev": AddNetdev(value); break;
            case "-device": AddDevice(value); break;
            default: return false;
        }
        _seen = true;
        return true;
    }

    /// <summary>The NICs to build, in PCI slot order.</summary>
    public IReadOnlyList<NicSpec> Resolve()
    {
        if (!_seen) return [new NicSpec(NicModel.E1000, Mac(0), new UserNetOptions(), IsDefault: true)];
        var nics = new List<NicSpec>();
        if (_hubNics.Count > 1 && _hubUsers.Count > 0) throw new ArgumentException("Only one NIC can share hub 0 with -net user (use -nic or -netdev for more)");
        if (_hubUsers.Count > 1) throw new ArgumentException("Only one -net user can be on hub 0 (use -nic or -netdev for more)");
        foreach (var (model, mac) in _hubNics) nics.Add(new NicSpec(model, mac ?? Mac(nics.Count), _hubUsers.FirstOrDefault()));
        foreach (var (model, mac, backend) in _direct) nics.Add(new NicSpec(model, mac ?? Mac(nics.Count), backend));
        if (_none && nics.Count == 0) return [];
        return nics;
    }

    private static byte[] Mac(int index)
    {
        var mac = (byte[])FirstMac.Clone();
        mac[5] = (byte)(mac[5] + index);
        return mac;
    }

    private void AddNet(string value)
    {
        var parts = OptionList.Split(value);
        string type = parts.Count > 0 ? parts[0] : "";
        var keys = OptionList.Keys(parts.Skip(1));
        switch (type)
        {
            case "nic":
                string? model = null;
                byte[]? mac = null;
                foreach (var (key, v) in keys)
                {
                    switch (key)
                    {
                        case "model": model = v; break;
                        case "macaddr": mac = ParseMac(v); break;
                        case "name" or "vlan" or "netdev" or "addr" or "vectors": break;
                        default: throw new ArgumentException($"Invalid parameter '{key}'");
                    }
                }
                _hubNics.Add((ParseModel(model ?? "e1000"), mac));
                break;
            case "user":
                _hubUsers.Add(ParseUser(keys, allowNicKeys: false).User);
                break;
            case "none":
                _none = true;
                break;
            default:
                throw new ArgumentException($"-net {value}: Parameter 'type' expects a net backend type (maybe it is not compiled into this binary)");
        }
    }

    private void AddNic(string value)
    {
        var parts = OptionList.Split(value);
        string type = parts.Count > 0 ? parts[0] : "";
        if (type == "none")
        {
            _none = true;
            return;
        }
        if (type != "user") throw new ArgumentException($"-nic {value}: Parameter 'type' expects a net backend type (maybe it is not compiled into this binary)");
        var (user, model, mac) = ParseUser(OptionList.Keys(parts.Skip(1)), allowNicKeys: true);
        _direct.Add((ParseModel(model ?? "e1000"), mac, user));
    }

    private void AddNetdev(string value)
    {
        var parts = OptionList.Split(value);
        string type = parts.Count > 0 ? parts[0] : "";
        if (type != "user") throw new ArgumentException($"-netdev {value}: Parameter 'type' expects a netdev backend type");
        var keys = OptionList.Keys(parts.Skip(1)).ToList();
        string id = keys.FirstOrDefault(k => k.Key == "id").Value ?? throw new ArgumentException($"-netdev {value}: Parameter 'id' is missing");
        if (_netdevs.ContainsKey(id)) throw new ArgumentException($"-netdev {value}: Duplicate ID '{id}' for netdev");
        _netdevs[id] = ParseUser(keys.Where(k => k.Key != "id"), allowNicKeys: false).User;
    }

    private void AddDevice(string value)
    {
        var parts = OptionList.Split(value);
        string driver = parts.Count > 0 ? parts[0] : "";
        NicModel model = driver switch
        {
            "e1000" or "e1000-82540em" => NicModel.E1000,
            "virtio-net-pci" or "virtio-net-pci-transitional" or "virtio-net" => NicModel.VirtioNet,
            "ne2k_pci" => NicModel.Ne2kPci,
            _ => throw new ArgumentException($"-device {value}: '{driver}' is not a valid device model name"),
        };
        UserNetOptions? backend = null;
        byte[]? mac = null;
        foreach (var (key, v) in OptionList.Keys(parts.Skip(1)))
        {
            switch (key)
            {
                case "netdev":
                    if (!_netdevs.Remove(v, out backend)) throw new ArgumentException($"-device {value}: Property '{driver}.netdev' can't find value '{v}'");
                    break;
                case "mac": mac = ParseMac(v); break;
                case "id" or "addr" or "bus" or "romfile" or "vectors": break;
                default: throw new ArgumentException($"-device {value}: Property '{driver}.{key}' not found");
            }
        }
        _direct.Add((model, mac, backend));
    }

    private static NicModel ParseModel(string model) => model switch
    {
        "e1000" or "e1000-82540em" => NicModel.E1000,
        "virtio" or "virtio-net-pci" => NicModel.VirtioNet,
        "ne2k_pci" => NicModel.Ne2kPci,
        _ => throw new ArgumentException($"Unsupported NIC model: {model}"),
    };

    private static (UserNetOptions User, string? Model, byte[]? Mac) ParseUser(IEnumerable<(string Key, string Value)> keys, bool allowNicKeys)
    {
        var user = new UserNetOptions();
        var forwards = new List<HostForward>();
        string? model = null;
        byte[]? mac = null;
        foreach (var (key, v) in keys)
        {
            switch (key)
            {
                case "model" when allowNicKeys: model = v; break;
                case "mac" when allowNicKeys: mac = ParseMac(v); break;
                case "restrict": user = user with { Restrict = OptionList.OnOff(key, v) }; break;
                case "hostfwd": forwards.Add(ParseHostForward(v)); break;
                case "hostname": user = user with { Hostname = v }; break;
                case "smb": user = user with { SmbDirectory = v }; break;
                case "name" or "ipv4" or "ipv6" or "vlan": break;
                case "net" or "host" or "dhcpstart" or "dns" or "smbserver" or "guestfwd" or "tftp" or "bootfile" or "dnssearch" or "domainname" or "ipv6-net" or "ipv6-host" or "ipv6-dns" or "tftp-server-name":
                    throw new ArgumentException($"-net user: '{key}' is not supported by img run");
                default: throw new ArgumentException($"Invalid parameter '{key}'");
            }
        }
        return (user with { HostForwards = forwards }, model, mac);
    }

    /// <summary><c>[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport</c>, with libslirp's reasons on error.</summary>
    public static HostForward ParseHostForward(string rule)
    {
        ArgumentException Bad(string reason) => new($"Invalid host forwarding rule '{rule}' ({reason})");
        int colon = rule.IndexOf(':');
        if (colon < 0) throw Bad("No : separators");
        string protocol = rule[..colon];
        bool udp = protocol switch
        {
            "" or "tcp" => false,
            "udp" => true,
            _ => throw Bad("Bad protocol name"),
        };
        string rest = rule[(colon + 1)..];
        colon = rest.IndexOf(':');
        if (colon < 0) throw Bad("Missing : separator");
        string hostAddress = rest[..colon];
        rest = rest[(colon + 1)..];
        int dash = rest.IndexOf('-');
        if (dash < 0) throw Bad("Bad host port separator");
        string hostPort = rest[..dash];
        rest = rest[(dash + 1)..];
        IPAddress host = IPAddress.Any;
        if (hostAddress.Length > 0 && (!IPAddress.TryParse(hostAddress, out host!) || host.AddressFamily != AddressFamily.InterNetwork)) throw Bad("Bad host address");
        if (!int.TryParse(hostPort, NumberStyles.None, CultureInfo.InvariantCulture, out int hp) || hp > 65535) throw Bad("Bad host port");
        colon = rest.IndexOf(':');
        if (colon < 0) throw Bad("Missing guest address");
        string guestAddress = rest[..colon], guestPort = rest[(colon + 1)..];
        IPAddress guest = UserNetOptions.DefaultGuest;
        if (guestAddress.Length > 0 && (!IPAddress.TryParse(guestAddress, out guest!) || guest.AddressFamily != AddressFamily.InterNetwork)) throw Bad("Bad guest address");
        if (!int.TryParse(guestPort, NumberStyles.None, CultureInfo.InvariantCulture, out int gp) || gp < 1 || gp > 65535) throw Bad("Bad guest port");
        return new HostForward(udp, host, hp, guest, gp, rule);
    }

    private static byte[] ParseMac(string value)
    {
        var parts = value.Split(':');
        var mac = new byte[6];
        if (parts.Length != 6) throw new ArgumentException($"Parameter 'mac' expects a MAC address, not '{value}'");
        for (int i = 0; i < 6; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out mac[i]))
                throw new ArgumentException($"Parameter 'mac' expects a MAC address, not '{value}'");
        }
        return mac;
    }
}
