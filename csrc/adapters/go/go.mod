module mapfuzz/goadapters

go 1.19
