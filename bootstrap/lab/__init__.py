"""The local lab: boot a build's hosts in QEMU virtual machines from their exact user-data.

``image`` builds (once, cached by the digest of its recipe) a bootable Debian image from Debian
packages; ``seed`` writes a host's NoCloud seed; ``vm`` starts, waits for and stops one machine;
``state`` owns the lab's folders and what they record (PIDs, ports, keys). Nothing here renders:
a machine boots from what ``bootstrap render`` wrote into the build.
"""
