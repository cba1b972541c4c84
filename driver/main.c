// SPDX-License-Identifier: GPL-2.0
/*
 * axvm: module entry, /dev/axvm and its system ioctls.
 *
 * The core here is arch-neutral: it picks the backend for this CPU,
 * enables it on every online CPU through CPU hotplug, and hands out VM
 * fds. Everything vendor-specific sits behind struct axvm_arch_ops.
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/cpuhotplug.h>
#include <linux/reboot.h>
#include <linux/smp.h>
#include <linux/uaccess.h>
#include "axvm.h"

const struct axvm_arch_ops *axvm_arch;
bool axvm_rebooting;
static enum cpuhp_state axvm_cpuhp_state;

bool axvm_mem_is_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/*
 * Every argument struct starts with {__u32 size; __u32 flags}. A caller
 * built against an older, smaller struct is not supported below the first
 * version (-EINVAL); a newer, larger one is fine if what we don't know is
 * zero (copy_struct_from_user() returns -E2BIG otherwise).
 */
int axvm_copy_args_min(void *dst, size_t dst_size, size_t min_size,
		       const void __user *src)
{
	u32 usize;

	if (get_user(usize, (const u32 __user *)src))
		return -EFAULT;
	if (usize < min_size) {
		axvm_err_ratelimited("size %u is smaller than %zu\n",
				     usize, min_size);
		return -EINVAL;
	}
	/* No struct will ever be a page; don't scan gigabytes for zeros. */
	if (usize > PAGE_SIZE)
		return -E2BIG;
	/* Fields a shorter (older) struct lacks read as zero. */
	return copy_struct_from_user(dst, dst_size, src, usize);
}

int axvm_copy_args(void *dst, size_t dst_size, const void __user *src)
{
	return axvm_copy_args_min(dst, dst_size, dst_size, src);
}

/* Copies a struct back; size stays what the caller said it was. */
int axvm_copy_args_out(void __user *dst, const void *src, size_t src_size)
{
	/* Skip the size field: userspace's own value must survive. */
	if (copy_to_user((u8 __user *)dst + 4, (const u8 *)src + 4,
			 src_size - 4))
		return -EFAULT;
	return 0;
}

/*
 * The contract of the ioctls that return a list: nr_entries says the room
 * in entries[] on the way in and the count on the way out. If the room is
 * short nothing is copied and the result is -ENOSPC, with the count set.
 */
int axvm_copy_list_out(void __user *uarg, void *args, size_t args_size,
		       u32 *nr_entries, u64 entries, const void *ents, u32 n,
		       size_t ent_size)
{
	int ret = 0;

	if (*nr_entries < n)
		ret = -ENOSPC;
	else if (copy_to_user(u64_to_user_ptr(entries), ents, n * ent_size))
		return -EFAULT;
	*nr_entries = n;
	if (axvm_copy_args_out(uarg, args, args_size))
		return -EFAULT;
	return ret;
}

static long axvm_get_caps(struct axvm_caps __user *uarg)
{
	struct axvm_caps caps;
	int ret;

	ret = axvm_copy_args(&caps, sizeof(caps), uarg);
	if (ret)
		return ret;
	if (caps.flags) {
		axvm_err_ratelimited("GET_CAPS: flags must be 0\n");
		return -EINVAL;
	}
	memset(&caps, 0, sizeof(caps));
	caps.size = sizeof(caps);
	caps.api_version = AXVM_API_VERSION;
	caps.backend = axvm_arch->backend;
	caps.max_vcpus = AXVM_MAX_VCPUS;
	caps.max_mem_regions = AXVM_MAX_REGIONS;
	caps.run_size = PAGE_SIZE;
	axvm_arch->fill_caps(&caps);
	return axvm_copy_args_out(uarg, &caps, sizeof(caps));
}

static long axvm_dev_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case AXVM_GET_API_VERSION:
		return AXVM_API_VERSION;
	case AXVM_GET_CAPS:
		return axvm_get_caps(uarg);
	case AXVM_CREATE_VM:
		return axvm_create_vm(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations axvm_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= axvm_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice axvm_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "axvm",
	.fops	= &axvm_dev_fops,
	.mode	= 0600,
};

static int axvm_cpu_online(unsigned int cpu)
{
	return axvm_arch->cpu_enable(cpu);
}

static int axvm_cpu_offline(unsigned int cpu)
{
	return axvm_arch->cpu_disable(cpu);
}

static void axvm_cpu_off_ipi(void *unused)
{
	axvm_arch->cpu_disable(smp_processor_id());
}

/*
 * Leave no CPU with virtualisation on across a reboot or kexec: the next
 * kernel (or the firmware) does not expect it. A vCPU interrupted by the
 * IPI finds its CPU disabled and does not enter the guest again.
 */
static int axvm_reboot(struct notifier_block *nb, unsigned long code,
		       void *unused)
{
	WRITE_ONCE(axvm_rebooting, true);	/* RUN fails from now on */
	on_each_cpu(axvm_cpu_off_ipi, NULL, 1);
	return NOTIFY_OK;
}

static struct notifier_block axvm_reboot_nb = {
	.notifier_call = axvm_reboot,
};

static const struct axvm_arch_ops *axvm_pick_backend(void)
{
#ifdef CONFIG_X86_64
	return &axvm_svm_ops;
#else
	return NULL;
#endif
}

static int __init axvm_init(void)
{
	int ret;

	axvm_arch = axvm_pick_backend();
	if (!axvm_arch) {
		pr_err("axvm: no backend for this architecture\n");
		return -ENODEV;
	}
	ret = axvm_arch->hardware_setup();
	if (ret)
		return ret;

	/* Runs axvm_cpu_online() on every online CPU now, and on hotplug. */
	ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "axvm:online",
				axvm_cpu_online, axvm_cpu_offline);
	if (ret < 0) {
		pr_err("axvm: cannot enable %s on every CPU (%d)\n",
		       axvm_arch->name, ret);
		goto err_unsetup;
	}
	axvm_cpuhp_state = ret;
	axvm_debugfs_init();

	ret = register_reboot_notifier(&axvm_reboot_nb);
	if (ret)
		goto err_cpuhp;
	ret = misc_register(&axvm_misc);
	if (ret)
		goto err_reboot;

	axvm_info("%s backend ready, /dev/axvm API %d\n", axvm_arch->name,
		  AXVM_API_VERSION);
	return 0;

err_reboot:
	unregister_reboot_notifier(&axvm_reboot_nb);
err_cpuhp:
	axvm_debugfs_exit();
	cpuhp_remove_state(axvm_cpuhp_state);
err_unsetup:
	axvm_arch->hardware_unsetup();
	return ret;
}

static void __exit axvm_exit(void)
{
	misc_deregister(&axvm_misc);
	unregister_reboot_notifier(&axvm_reboot_nb);
	axvm_debugfs_exit();
	cpuhp_remove_state(axvm_cpuhp_state);
	axvm_arch->hardware_unsetup();
	axvm_info("unloaded\n");
}

module_init(axvm_init);
module_exit(axvm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("axvm: a readable hypervisor (AMD SVM + NPT)");
MODULE_AUTHOR("The axvm developers");
