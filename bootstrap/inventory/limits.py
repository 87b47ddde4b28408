"""The bounds an inventory must stay within, so that hostile or careless input fails fast.

Each bound is checked while the inventory loads, before the work it bounds is done, and breaking
one is an error that names the file (and line where there is one). They are sized for inventories
of 100,000 hosts with room to spare; none of them is reached by an inventory written by hand.

- size of one inventory or vars file: 64 MiB (a file is parsed whole, in memory);
- nesting of mappings and lists in one file: 100 levels (code that walks values recurses);
- values that aliases (``*name``) add to one file: 5,000,000 (an alias is shared when loaded,
  but printing or rendering the value pays for every use);
- hosts one host pattern (``web[1:1000]``) stands for: 250,000, counted before expanding it;
- hosts in one inventory: 250,000;
- entries (lines that are not blank or comments) in one INI inventory file: 1,000,000, counted
  before any is parsed (a line of an INI file costs far more than its bytes once parsed);
- inventory files read from an inventory folder: 10,000;
- files and folders in the group_vars/ or host_vars/ folder of one group or host, its
  subfolders included: 1,000, and subfolders at most 16 deep;
- bytes of a host name in UTF-8: 255 (a host's files go in a folder of that name).
"""

from __future__ import annotations

FILE_BYTES = 64 * 1024 * 1024
DEPTH = 100
ALIAS_VALUES = 5_000_000
HOSTS_PER_PATTERN = 250_000
HOSTS = 250_000
INI_ENTRIES = 1_000_000
INVENTORY_FILES = 10_000
VARS_FOLDER_FILES = 1_000
VARS_FOLDER_DEPTH = 16
HOST_NAME_BYTES = 255
