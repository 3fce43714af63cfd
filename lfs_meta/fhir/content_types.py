"""MIME types by file name for the formats research data comes in.

Python's `mimetypes` gets this field wrong (`.vcf` is a vCard to it, `.bam` unknown), so the table is
explicit. Formats without a registered type get the customary `x-` one; compressed files are gzip.
"""

from __future__ import annotations

import functools

GZIP = "application/gzip"
HDF5 = "application/x-hdf5"

BY_SUFFIX = {
    # variants and alignments
    "vcf": "text/x-vcf",
    "vcf.gz": GZIP,
    "vcf.bgz": GZIP,
    "bcf": "application/x-bcf",
    "sam": "text/x-sam",
    "bam": "application/x-bam",
    "bai": "application/x-bam-index",
    "cram": "application/x-cram",
    "crai": "application/x-cram-index",
    "tbi": "application/x-tabix-index",
    "csi": "application/x-csi-index",
    "maf": "text/x-maf",
    # reads and sequences
    "fastq": "text/x-fastq",
    "fq": "text/x-fastq",
    "fastq.gz": GZIP,
    "fq.gz": GZIP,
    "fasta": "text/x-fasta",
    "fa": "text/x-fasta",
    "fna": "text/x-fasta",
    "fasta.gz": GZIP,
    "fa.gz": GZIP,
    # annotations and tracks
    "bed": "text/x-bed",
    "bed.gz": GZIP,
    "gff": "text/x-gff3",
    "gff3": "text/x-gff3",
    "gtf": "text/x-gtf",
    "bigwig": "application/x-bigwig",
    "bw": "application/x-bigwig",
    "bigbed": "application/x-bigbed",
    "bb": "application/x-bigbed",
    # matrices and tables
    "h5ad": HDF5,
    "h5": HDF5,
    "hdf5": HDF5,
    "loom": HDF5,
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    # imaging
    "dcm": "application/dicom",
    "dicom": "application/dicom",
    "nii": "application/x-nifti",
    "nii.gz": GZIP,
    "svs": "image/tiff",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    # documents and archives
    "pdf": "application/pdf",
    "html": "text/html",
    "md": "text/markdown",
    "xml": "application/xml",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "gz": GZIP,
    "tgz": GZIP,
    "zip": "application/zip",
    "tar": "application/x-tar",
}


def guess(path: str) -> str | None:
    """The MIME type for `path`'s file name, the longest known suffix first (`.vcf.gz` before `.gz`)."""
    return _by_suffixes(path.rpartition("/")[2].partition(".")[2].lower())


@functools.lru_cache(maxsize=1024)  # an index has few distinct suffixes and many entries
def _by_suffixes(suffixes: str) -> str | None:
    """The type for what follows a file name's first dot: 'vcf.gz', then 'gz'."""
    parts = suffixes.split(".")
    for start in range(len(parts)):
        found = BY_SUFFIX.get(".".join(parts[start:]))
        if found:
            return found
    return None
