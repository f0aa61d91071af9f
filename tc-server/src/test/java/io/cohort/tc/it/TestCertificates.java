package io.cohort.tc.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Throwaway CAs and certificates made at test time with the {@code openssl} command (EC P-256,
 * PEM, unencrypted PKCS#8 keys), so no private key lives in the repository.
 */
final class TestCertificates {

    /** A certificate with its key, as PEM files. */
    record Pem(Path certificate, Path privateKey) {
    }

    private final Path dir;

    TestCertificates(Path dir) {
        this.dir = dir;
    }

    /** A self-signed CA named {@code name}. */
    Pem ca(String name) {
        Pem ca = new Pem(dir.resolve(name + "-ca.pem"), dir.resolve(name + "-ca.key"));
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", ca.privateKey().toString(), "-out", ca.certificate().toString(), "-days", "2",
                "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return ca;
    }

    /**
     * A certificate signed by {@code ca} with common name {@code commonName}, valid for both TLS
     * sides, naming {@code altNames} (e.g. {@code DNS:localhost}, {@code IP:127.0.0.1}).
     */
    Pem issue(Pem ca, String file, String commonName, String... altNames) {
        return issue(ca, file, null, commonName, altNames);
    }

    /**
     * A certificate signed by {@code ca} for the private key of {@code keyOf} (a renewal that keeps
     * the key, as cert-manager's {@code rotationPolicy: Never} does): the returned key file is
     * {@code keyOf}'s.
     */
    Pem renew(Pem ca, Pem keyOf, String file, String commonName, String... altNames) {
        return issue(ca, file, keyOf.privateKey(), commonName, altNames);
    }

    private Pem issue(Pem ca, String file, Path existingKey, String commonName, String... altNames) {
        Pem leaf = new Pem(dir.resolve(file + ".pem"), existingKey != null ? existingKey : dir.resolve(file + ".key"));
        Path csr = dir.resolve(file + ".csr");
        Path extensions = dir.resolve(file + ".ext");
        List<String> lines = new ArrayList<>(List.of("basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                "extendedKeyUsage=serverAuth,clientAuth"));
        if (altNames.length > 0) {
            lines.add("subjectAltName=" + String.join(",", altNames));
        }
        try {
            Files.write(extensions, lines);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (existingKey != null) {
            openssl("req", "-new", "-key", existingKey.toString(), "-out", csr.toString(), "-subj", "/CN=" + commonName);
        } else {
            openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", leaf.privateKey().toString(), "-out", csr.toString(), "-subj", "/CN=" + commonName);
        }
        openssl("x509", "-req", "-in", csr.toString(), "-CA", ca.certificate().toString(), "-CAkey",
                ca.privateKey().toString(), "-CAcreateserial", "-out", leaf.certificate().toString(), "-days", "2",
                "-extfile", extensions.toString());
        return leaf;
    }

    /**
     * Puts {@code source}'s content at {@code target} in one step, as a Secret update does: a
     * reader sees the old file or the new one, never half of it.
     */
    static void replace(Path target, Path source) {
        try {
            Path next = Files.createTempFile(target.getParent(), "next", ".pem");
            Files.copy(source, next, StandardCopyOption.REPLACE_EXISTING);
            Files.move(next, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Several PEM files in one (a CA bundle). */
    static Path concat(Path target, Path... parts) {
        try {
            StringBuilder all = new StringBuilder();
            for (Path part : parts) {
                all.append(Files.readString(part));
            }
            Files.writeString(target, all);
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void openssl(String... args) {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        try {
            Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
            String output = new String(process.getInputStream().readAllBytes());
            if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
                throw new IllegalStateException("openssl " + String.join(" ", args) + " failed: " + output);
            }
        } catch (IOException e) {
            throw new IllegalStateException("The TLS tests make their certificates with the openssl command, which "
                    + "could not run (install openssl): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
