# The one database layer of jsonmend, shared by every module in library/.
