"""ROI toolkit: pens, region growing, polygons, morphology, set operations, statistics, undo.

Pure numpy/scipy, no Qt and no napari: this is also the scripting API. An ROI is a bool mask on
the grid of a reference image (same matrix and voxel-to-RAS affine). Pens return a
:class:`Patch` (box + mask) that :class:`History` applies with undo; operations return new masks.

>>> import numpy as np
>>> from napari_nora import roi
>>> image = np.zeros((20, 20, 20), np.int16); image[5:15, 5:15, 5:15] = 100
>>> mask = roi.region_grow(image, (10, 10, 10), tolerance=10)
>>> round(roi.roi_stats(mask, image, affine_roi=np.diag([2.0, 2.0, 2.0, 1.0]))["volume_ml"], 6)
8.0
"""

from napari_nora.roi.components import largest_component, remove_salt
from napari_nora.roi.footprints import footprint
from napari_nora.roi.history import History
from napari_nora.roi.morphology import closing, dilation, erosion, opening
from napari_nora.roi.patch import Patch, bbox_slices
from napari_nora.roi.pens import brush, interpolate_path, magic_pen, threshold_pen
from napari_nora.roi.polygon import polygon_mask, polygon_patch
from napari_nora.roi.regiongrow import (in_range, region_grow, region_grow_label,
                                        region_grow_patch)
from napari_nora.roi.sampling import resample_mask, voxel_sizes, voxel_volume
from napari_nora.roi.setops import complement, difference, intersection, union
from napari_nora.roi.stats import COLUMNS, RoiVoxels, roi_stats, stats_table, write_csv

__all__ = [
    "COLUMNS", "History", "Patch", "RoiVoxels", "bbox_slices", "brush", "closing", "complement",
    "difference", "dilation", "erosion", "footprint", "in_range", "interpolate_path",
    "intersection", "largest_component", "magic_pen", "opening", "polygon_mask", "polygon_patch",
    "region_grow", "region_grow_label", "region_grow_patch", "remove_salt", "resample_mask",
    "roi_stats", "stats_table", "threshold_pen", "union", "voxel_sizes", "voxel_volume",
    "write_csv",
]
