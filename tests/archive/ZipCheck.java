// Independent ZIP reader for the archive tests: Java's own two readers.
//
//   java ZipCheck stream [--count]   read an archive from stdin with ZipInputStream
//   java ZipCheck file PATH [--count] read an archive file with java.util.zip.ZipFile
//
// Every entry is read to its end and its CRC-32 computed here, then compared
// with the CRC the reader took from the headers; the byte count is compared
// with the declared size. One line per entry, "name<TAB>size<TAB>crc" (crc in
// 8 lower-case hex digits), then "entries N". With --count only the last line
// is printed. Any mismatch or reader exception exits non-zero.
//
// ZipInputStream reads local headers front to back, as a browser's
// "open while downloading" or a Java back end would; it rejects STORED entries
// with data descriptors, so it guards the "bit 3 clear" rule.

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Enumeration;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;

public final class ZipCheck {
    private static final byte[] BUFFER = new byte[1 << 16];

    private ZipCheck() {}

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        boolean countOnly = args[args.length - 1].equals("--count");
        long entries;
        if (args[0].equals("stream")) {
            entries = readStream(out, countOnly);
        } else if (args[0].equals("file")) {
            entries = readFile(args[1], out, countOnly);
        } else {
            throw new IllegalArgumentException("usage: ZipCheck stream|file PATH [--count]");
        }
        out.println("entries " + entries);
        out.flush();
    }

    private static long readStream(PrintStream out, boolean countOnly) throws IOException {
        long entries = 0;
        InputStream in = new BufferedInputStream(System.in, 1 << 20);
        try (ZipInputStream zin = new ZipInputStream(in, StandardCharsets.UTF_8)) {
            ZipEntry entry;
            while ((entry = zin.getNextEntry()) != null) {
                // CRC and size are only final once the entry is read to its end.
                CRC32 crc = new CRC32();
                long size = drain(zin, crc);
                check(entry, size, crc.getValue());
                report(out, countOnly, entry, size, crc.getValue());
                entries++;
            }
            // The central directory follows the last entry; read it too, so the
            // writer on the other end of the pipe sees the whole archive taken.
            drain(in, new CRC32());
        }
        return entries;
    }

    private static long readFile(String path, PrintStream out, boolean countOnly)
            throws IOException {
        long entries = 0;
        try (ZipFile zip = new ZipFile(path, StandardCharsets.UTF_8)) {
            Enumeration<? extends ZipEntry> all = zip.entries();
            while (all.hasMoreElements()) {
                ZipEntry entry = all.nextElement();
                CRC32 crc = new CRC32();
                long size;
                try (InputStream in = zip.getInputStream(entry)) {
                    size = drain(in, crc);
                }
                check(entry, size, crc.getValue());
                report(out, countOnly, entry, size, crc.getValue());
                entries++;
            }
        }
        return entries;
    }

    private static long drain(InputStream in, CRC32 crc) throws IOException {
        long total = 0;
        int n;
        while ((n = in.read(BUFFER)) > 0) {
            crc.update(BUFFER, 0, n);
            total += n;
        }
        return total;
    }

    private static void check(ZipEntry entry, long size, long crc) throws IOException {
        if (entry.getSize() != size) {
            throw new IOException(entry.getName() + ": read " + size + " bytes, declared "
                    + entry.getSize());
        }
        if (entry.getCrc() != crc) {
            throw new IOException(String.format("%s: CRC %08x, declared %08x",
                    entry.getName(), crc, entry.getCrc()));
        }
    }

    private static void report(PrintStream out, boolean countOnly, ZipEntry entry, long size,
            long crc) {
        if (!countOnly) {
            out.printf("%s\t%d\t%08x%n", entry.getName(), size, crc);
        }
    }
}
