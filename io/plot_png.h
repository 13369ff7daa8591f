/* A small raster line chart written as PNG through libpng: axes with ticks and numeric labels, a
 * light grid, one coloured polyline with point markers per series and a legend of colour swatches
 * with their names. Text uses a built-in 3×5 pixel font (capitals, digits, a few signs; lower case
 * is drawn as capitals), so no font library is needed. Used by gradcore eval --plot. */
#ifndef GC_PLOT_PNG_H
#define GC_PLOT_PNG_H

typedef struct {
    const char *name; /* legend text */
    unsigned char rgb[3];
    int count;
    const double *x, *y;
} gc_plot_series;

/* Writes the chart to `path` (via a temporary file renamed into place, so a failure leaves no
 * partial file); errors name `option` (the command-line option that gave the path). */
int gc_plot_png(const char *path, const char *option, const char *x_label, const char *y_label,
                const gc_plot_series *series, int series_count);

#endif
