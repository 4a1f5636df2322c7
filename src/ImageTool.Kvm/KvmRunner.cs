using ImageTool.Kvm.Bios;
using ImageTool.Kvm.Boot;
using ImageTool.Kvm.Devices;
using ImageTool.Kvm.Disks;
using ImageTool.Kvm.Interop;
using ImageTool.Kvm.Machine;
using ImageTool.Kvm.Network;

namespace ImageTool.Kvm;

/// <summary>
/// <c>img run</c>: boots a guest under KVM with one vCPU, an 8250 on the console, CMOS, PCI with virtio-blk,
/// and either the trapping BIOS (MBR or El Torito boot) or Linux direct boot; every disk is served by the
/// ImageTool block layer.
/// </summary>
public static class KvmRunner
{
    private const ushort VirtioIoBase = 0xC000;
    private const ushort NicIoBase = 0xC200;
    private const int FirstNicSlot = 5;
    private const uint NicMmioBase = 0xFEB00000; // above the largest RAM (3.5 GiB), below the IOAPIC
    private static readonly int[] VirtioIrqs = [10, 11, 5, 9];
    private static readonly int[] NicIrqs = [11, 10, 9, 5, 7, 3];

    /// <summary>Runs the guest until it halts, resets or powers off, or the user quits; returns the exit code (0).</summary>
    /// <param name="options">What to boot.</param>
    /// <param name="console">The guest's serial and BIOS text console.</param>
    /// <param name="cancel">Stops the guest, as Ctrl-A x does.</param>
    /// <param name="warning">Receives qemu's warnings (e.g. a raw image whose format was probed).</param>
    /// <exception cref="KvmException">No usable /dev/kvm, or the guest crashed (triple fault, emulation failure).</exception>
    /// <exception cref="KvmBootException">Nothing bootable.</exception>
    /// <exception cref="ImageFormatException">An image could not be opened.</exception>
    /// <exception cref="ArgumentException">Inconsistent options.</exception>
    public static int Run(RunOptions options, GuestConsole console, CancellationToken cancel = default, Action<ImageWarning>? warning = null)
    {
        var disks = new List<GuestDisk>();
        var owned = new List<IDisposable>();
        try
        {
            foreach (var spec in options.Drives) disks.Add(GuestDisk.Open(spec, options.Snapshot, warning));
            using var vm = new Vm(options.Memory);
            using var vcpu = vm.CreateVcpu();
            RunGuest(options, console, disks, owned, vm, vcpu, cancel, warning); // halt, reset, power-off and quit all end with 0, as in qemu -no-reboot
            return 0;
        }
        finally
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
            foreach (var disk in disks) disk.Dispose();
            console.Output.Flush();
        }
    }

    private static StopReason RunGuest(RunOptions options, GuestConsole console, List<GuestDisk> disks, List<IDisposable> owned, Vm vm, Vcpu vcpu,
        CancellationToken cancel, Action<ImageWarning>? warning)
    {
        var bus = new IoBus();
        using var trace = ExitTrace.FromEnvironment();
        var mmio = new MmioBus();
        var loop = new VcpuLoop(vcpu, vm.Memory, bus, trace, mmio);
        void Reset() => loop.RequestStop(StopReason.Reset);
        var pci = new PciHost(Reset);
        bus.Add(Serial8250.Base, 8, new Serial8250(console, vm.SetIrq));
        bus.Add(0x70, 2, new Cmos(options.Memory, options.Boot == 'd'));
        var i8042 = new I8042(Reset);
        bus.Add(I8042.Data, 1, i8042);
        bus.Add(I8042.Command, 1, i8042);
        bus.Add(I8042.SystemControlA, 1, i8042);
        bus.Add(PciHost.Address, 8, pci);
        var debug = new DebugPort(console);
        bus.Add(DebugPort.Post, 1, debug);
        bus.Add(DebugPort.Console, 1, debug);

        var virtio = disks.Where(d => d.Spec.Interface == DriveInterface.Virtio).ToList();
        if (virtio.Count > VirtioIrqs.Length) throw new ArgumentException($"At most {VirtioIrqs.Length} virtio disks are supported");
        for (int i = 0; i < virtio.Count; i++)
        {
            ushort ioBase = (ushort)(VirtioIoBase + i * VirtioBlk.BarSize);
            var device = new VirtioBlk(virtio[i].Device, vm.Memory, vm.SetIrq, VirtioIrqs[i], ioBase, $"img-virtio{i}");
            bus.Add(ioBase, VirtioBlk.BarSize, device);
            pci.Add(1 + i, device);
        }

        AddNics(options.Nics, vm, bus, mmio, pci, owned, virtio.Count);

        if (options.Kernel != null)
        {
            foreach (var disk in disks.Where(d => d.Spec.Interface == DriveInterface.Ide))
                warning?.Invoke($"img: warning: '{disk.Spec.File}' is on the IDE bus, which only the BIOS serves; Linux sees if=virtio disks");
            LinuxBoot.Prepare(vcpu, vm.Memory, options.Kernel, options.Initrd, options.Append ?? "");
        }
        else
        {
            var drives = BiosDrives(disks, options.Boot == 'd');
            var bios = new BiosServices(vcpu, vm.Memory, console, drives, message =>
            {
                if (message == null) loop.RequestStop(StopReason.Reset);
                else loop.Fail(message);
            }, () => loop.StopRequested || cancel.IsCancellationRequested);
            bus.Add(BiosRom.FirstTrapPort, BiosRom.Services.Length, bios);
            BiosBoot.Prepare(vcpu, vm.Memory, drives, options.Boot == 'd');
        }

        void Quit() => loop.RequestStop(StopReason.Quit);
        console.QuitRequested += Quit;
        using var registration = cancel.Register(Quit);
        try
        {
            return RunOnOwnThread(loop);
        }
        finally
        {
            console.QuitRequested -= Quit;
        }
    }

    // NICs after the virtio disks: slots from 5, I/O BARs from 0xC200 (256 bytes apart), e1000 MMIO BARs from
    // 0xFEB00000, IRQs the disks left.
    private static void AddNics(IReadOnlyList<NicSpec> nics, Vm vm, IoBus bus, MmioBus mmio, PciHost pci, List<IDisposable> owned, int virtioDisks)
    {
        var irqs = NicIrqs.Except(VirtioIrqs.Take(virtioDisks)).ToList();
        int index = 0;
        foreach (var nic in nics)
        {
            if (index >= irqs.Count) throw new ArgumentException($"At most {irqs.Count} NICs are supported");
            UserNetwork? network = null;
            if (nic.Backend != null)
            {
                network = new UserNetwork(nic.Backend);
                owned.Add(network);
            }
            ushort ioBase = (ushort)(NicIoBase + index * 0x100);
            if (nic.Model == NicModel.E1000)
            {
                uint mmioBase = NicMmioBase + (uint)index * E1000.MmioSize;
                var e1000 = new E1000(vm.Memory, network, nic.Mac, vm.SetIrq, irqs[index], mmioBase, ioBase);
                owned.Add(e1000);
                bus.Add(ioBase, E1000.IoSize, e1000);
                mmio.Add(mmioBase, E1000.MmioSize, e1000);
                pci.Add(FirstNicSlot + index, e1000);
            }
            else if (nic.Model == NicModel.Ne2kPci)
            {
                var ne2k = new Ne2kPci(network, nic.Mac, vm.SetIrq, irqs[index], ioBase);
                owned.Add(ne2k);
                bus.Add(ioBase, Ne2kPci.BarSize, ne2k);
                vm.CoalescePortWrites((ushort)(ioBase + Ne2kPci.DataPort), Ne2kPci.DataPortSize);
                pci.Add(FirstNicSlot + index, ne2k);
            }
            else
            {
                var device = new VirtioNet(vm.Memory, network, nic.Mac, vm.SetIrq, irqs[index], ioBase);
                owned.Add(device);
                bus.Add(ioBase, VirtioNet.BarSize, device);
                pci.Add(FirstNicSlot + index, device);
            }
            index++;
        }
    }

    // A boot=on disk first, then IDE hard disks in order from 0x80, then virtio disks (SeaBIOS boots those too);
    // the CD is 0xE0.
    private static List<BiosDrive> BiosDrives(List<GuestDisk> disks, bool bootFromCd)
    {
        var drives = new List<BiosDrive>();
        byte next = BiosBoot.FirstHardDisk;
        foreach (var disk in disks.Where(d => !d.Spec.IsCdrom).OrderByDescending(d => d.Spec.Boot).ThenBy(d => d.Spec.Interface))
            drives.Add(new BiosDrive(next++, disk.Spec.File, disk.Device, isCdrom: false));
        var cd = disks.FirstOrDefault(d => d.Spec.IsCdrom);
        if (cd != null)
        {
            var drive = new BiosDrive(BiosBoot.CdromDrive, cd.Spec.File, cd.Device, isCdrom: true);
            if (bootFromCd) drive.BootImage = ElToritoBootImage.Read(cd.Device, cd.Spec.File);
            drives.Add(drive);
        }
        return drives;
    }

    // KVM_RUN blocks its thread and the kick signal mask is per thread: the vCPU gets a thread of its own.
    private static StopReason RunOnOwnThread(VcpuLoop loop)
    {
        StopReason result = StopReason.Quit;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { result = loop.Run(); }
            catch (Exception e) { failure = e; }
        }, 1 << 20)
        { Name = "vcpu 0" };
        thread.Start();
        thread.Join();
        if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        return result;
    }
}
