using System.Globalization;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm;

/// <summary>What <c>img run</c> boots, parsed from qemu-system-x86_64's spelling of the options.</summary>
public sealed record RunOptions
{
    public const long DefaultMemory = 128L << 20;
    public const long MaxMemory = 3584L << 20; // one memory slot below the 32-bit PCI hole

    public long Memory { get; init; } = DefaultMemory;
    public IReadOnlyList<DriveSpec> Drives { get; init; } = [];

    /// <summary>'c' (first hard disk) or 'd' (CD-ROM).</summary>
    public char Boot { get; init; } = 'c';

    public bool Snapshot { get; init; }
    public string? Kernel { get; init; }
    public string? Initrd { get; init; }
    public string? Append { get; init; }

    /// <summary>Guest NICs with their user-mode networks; qemu's default (an e1000 on -net user) when no option says otherwise.</summary>
    internal IReadOnlyList<NicSpec> Nics { get; init; } = [];

    /// <summary>
    /// Parses qemu-style arguments: <c>-m</c>, <c>-hda</c>, <c>-hdb</c>, <c>-cdrom</c>, <c>-boot c|d</c>,
    /// <c>-drive file=...,format=...,if=ide|virtio,media=disk|cdrom,readonly=on</c>, <c>-snapshot</c>,
    /// <c>-kernel</c>, <c>-initrd</c>, <c>-append</c>, <c>-nographic</c>, <c>-serial stdio</c>, and the network options
    /// <c>-net nic|user|none</c>, <c>-nic user|none</c>, <c>-netdev user</c>, <c>-device e1000|virtio-net-pci|ne2k_pci</c>;
    /// single or double dash.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown option or a bad value, worded like qemu.</exception>
    public static RunOptions Parse(IReadOnlyList<string> args)
    {
        var options = new RunOptions();
        var drives = new List<DriveSpec>();
        var network = new NetworkOptions();
        DriveSpec? hda = null, hdb = null, cdrom = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith('-') || arg == "-")
            {
                // qemu takes a lone file name as -hda.
                hda = hda == null ? new DriveSpec(arg) : throw new ArgumentException($"{arg}: drive index 0 is already in use");
                continue;
            }
            string name = arg.StartsWith("--", StringComparison.Ordinal) ? arg[1..] : arg;
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{arg}: requires an argument");
            switch (name)
            {
                case "-m": options = options with { Memory = ParseMemory(Value()) }; break;
                case "-hda": hda = new DriveSpec(Value()); break;
                case "-hdb": hdb = new DriveSpec(Value()); break;
                case "-cdrom": cdrom = new DriveSpec(Value(), IsCdrom: true); break;
                case "-drive": drives.Add(ParseDrive(Value())); break;
                case "-net" or "-nic" or "-netdev" or "-device": network.TryAdd(name, Value()); break;
                case "-boot": options = options with { Boot = ParseBoot(Value()) }; break;
                case "-snapshot": options = options with { Snapshot = true }; break;
                case "-kernel": options = options with { Kernel = Value() }; break;
                case "-initrd": options = options with { Initrd = Value() }; break;
                case "-append": options = options with { Append = Value() }; break;
                // The runner has no ACPI tables and always uses KVM, so these ask for what it does anyway.
                case "-nographic" or "-enable-kvm" or "-no-reboot" or "-no-acpi": break;
                case "-soundhw" or "-vga" or "-usbdevice":
                    Value();
                    throw new ArgumentException($"{arg}: not available in img run, a headless runner (no display, sound or USB)");
                case "-usb" or "-sdl" or "-full-screen":
                    throw new ArgumentException($"{arg}: not available in img run, a headless runner (no display, sound or USB)");
                case "-serial":
                    string serial = Value();
                    if (serial is not ("stdio" or "mon:stdio")) throw new ArgumentException($"-serial {serial}: only 'stdio' is supported");
                    break;
                case "-display":
                    string display = Value();
                    if (display != "none") throw new ArgumentException($"-display {display}: only 'none' is supported");
                    break;
                default: throw new ArgumentException($"{arg}: invalid option");
            }
        }
        var all = new List<DriveSpec>();
        if (hda != null) all.Add(hda);
        if (hdb != null) all.Add(hdb);
        if (cdrom != null) all.Add(cdrom);
        all.AddRange(drives);
        if (all.Count == 0 && options.Kernel == null) throw new ArgumentException("No disk or kernel given (use -hda, -cdrom, -drive or -kernel)");
        if (options.Kernel == null && (options.Initrd != null || options.Append != null))
            throw new ArgumentException(options.Initrd != null ? "-initrd only allowed with -kernel option" : "-append only allowed with -kernel option");
        return options with { Drives = all, Nics = network.Resolve() };
    }

    private static long ParseMemory(string value)
    {
        string v = value.StartsWith("size=", StringComparison.Ordinal) ? value[5..] : value;
        long multiplier = 1L << 20;
        if (v.Length > 0 && char.IsLetter(v[^1]))
        {
            multiplier = char.ToUpperInvariant(v[^1]) switch
            {
                'M' => 1L << 20,
                'G' => 1L << 30,
                'K' => 1L << 10,
                _ => throw new ArgumentException($"-m {value}: invalid RAM size"),
            };
            v = v[..^1];
        }
        if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0 || n > MaxMemory / multiplier)
            throw new ArgumentException($"-m {value}: invalid RAM size (1 MiB to {MaxMemory >> 20} MiB)");
        long bytes = n * multiplier;
        if (bytes < 2L << 20) throw new ArgumentException($"-m {value}: at least 2 MiB of RAM are needed");
        return bytes & ~0xFFFFFL;
    }

    private static char ParseBoot(string value)
    {
        foreach (string part in value.Split(','))
        {
            string order = part.StartsWith("order=", StringComparison.Ordinal) ? part[6..]
                : part.StartsWith("once=", StringComparison.Ordinal) ? part[5..] : part.Contains('=') ? "" : part;
            if (order.Length == 0) continue;
            if (order[0] is 'c' or 'd') return order[0];
            throw new ArgumentException($"-boot {value}: invalid boot device '{order[0]}' (c or d)");
        }
        return 'c';
    }

    private static DriveSpec ParseDrive(string value)
    {
        string? file = null, format = null;
        var bus = DriveInterface.Ide;
        bool cdrom = false, readOnly = false, snapshot = false, boot = false;
        foreach (var (key, v) in OptionList.Keys(OptionList.Split(value)))
        {
            switch (key)
            {
                case "file": file = v; break;
                case "format": format = v; break;
                case "if":
                    bus = v switch
                    {
                        "ide" => DriveInterface.Ide,
                        "virtio" => DriveInterface.Virtio,
                        _ => throw new ArgumentException($"-drive {value}: unsupported bus type '{v}' (ide or virtio)"),
                    };
                    break;
                case "media":
                    cdrom = v switch
                    {
                        "disk" => false,
                        "cdrom" => true,
                        _ => throw new ArgumentException($"-drive {value}: '{v}' invalid media"),
                    };
                    break;
                case "readonly": readOnly = OnOff(value, key, v); break;
                case "snapshot": snapshot = OnOff(value, key, v); break;
                // qemu-kvm's old boot=on (the tutorial's virtio line): the BIOS boots this disk first.
                case "boot": boot = OnOff(value, key, v); break;
                case "index" or "cache" or "aio" or "discard": break;
                default: throw new ArgumentException($"-drive {value}: Invalid parameter '{key}'");
            }
        }
        if (file == null) throw new ArgumentException($"-drive {value}: a file= is required");
        if (cdrom && bus == DriveInterface.Virtio) throw new ArgumentException($"-drive {value}: media=cdrom needs if=ide");
        return new DriveSpec(file, format, bus, cdrom, readOnly, snapshot, boot);
    }

    private static bool OnOff(string value, string key, string v) => v switch
    {
        "on" or "yes" or "true" => true,
        "off" or "no" or "false" => false,
        _ => throw new ArgumentException($"-drive {value}: Parameter '{key}' expects 'on' or 'off'"),
    };
}
