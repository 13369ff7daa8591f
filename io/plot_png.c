#include "plot_png.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "output_guard.h"

/* Canvas and plot-area geometry in pixels; text is the 3×5 font magnified FONT times. */
enum { WIDTH = 720, HEIGHT = 480, LEFT = 72, RIGHT = 24, TOP = 36, BOTTOM = 52, FONT = 2 };

static const unsigned char black[3] = { 0, 0, 0 }, grid_grey[3] = { 225, 225, 225 }, border_grey[3] = { 150, 150, 150 },
                           white[3] = { 255, 255, 255 };

static void put_pixel(unsigned char *rgb, int x, int y, const unsigned char *colour)
{
    if (x < 0 || y < 0 || x >= WIDTH || y >= HEIGHT) return;
    memcpy(rgb + ((size_t)y * WIDTH + (size_t)x) * 3, colour, 3);
}

static void fill_rect(unsigned char *rgb, int x0, int y0, int w, int h, const unsigned char *colour)
{
    for (int y = y0; y < y0 + h; ++y)
        for (int x = x0; x < x0 + w; ++x) put_pixel(rgb, x, y, colour);
}

/* Bresenham, stamping a square of side `width` at every step so that lines are visibly thick. */
static void draw_line(unsigned char *rgb, int x0, int y0, int x1, int y1, int width, const unsigned char *colour)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        fill_rect(rgb, x0 - width / 2, y0 - width / 2, width, width, colour);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

/* 3×5 glyphs: each octal digit is one row, top row first; its three bits are the pixels from left
 * to right. Characters not listed (the space among them) are drawn blank. */
static const struct {
    char ch;
    unsigned rows;
} font[] = { { '0', 075557 }, { '1', 026227 }, { '2', 071747 }, { '3', 071717 }, { '4', 055711 }, { '5', 074717 },
             { '6', 074757 }, { '7', 071111 }, { '8', 075757 }, { '9', 075717 }, { '.', 000002 }, { '-', 000700 },
             { '(', 024442 }, { ')', 021112 }, { '%', 051245 }, { 'A', 025755 }, { 'B', 065656 }, { 'C', 034443 },
             { 'D', 065556 }, { 'E', 074647 }, { 'F', 074644 }, { 'G', 034553 }, { 'H', 055755 }, { 'I', 072227 },
             { 'J', 011152 }, { 'K', 055655 }, { 'L', 044447 }, { 'M', 057755 }, { 'N', 065555 }, { 'O', 025552 },
             { 'P', 065644 }, { 'Q', 025563 }, { 'R', 065655 }, { 'S', 034216 }, { 'T', 072222 }, { 'U', 055557 },
             { 'V', 055552 }, { 'W', 055775 }, { 'X', 055255 }, { 'Y', 055222 }, { 'Z', 071247 } };

static unsigned glyph(char ch)
{
    ch = (char)toupper((unsigned char)ch);
    for (size_t i = 0; i < sizeof font / sizeof font[0]; ++i)
        if (font[i].ch == ch) return font[i].rows;
    return 0;
}

static int text_width(const char *s) { return (int)strlen(s) * 4 * FONT - FONT; }

static void draw_text(unsigned char *rgb, int x, int y, const char *s, const unsigned char *colour)
{
    for (; *s != '\0'; ++s, x += 4 * FONT) {
        unsigned rows = glyph(*s);
        for (int r = 0; r < 5; ++r)
            for (int c = 0; c < 3; ++c)
                if ((rows >> (3 * (4 - r) + (2 - c))) & 1u)
                    fill_rect(rgb, x + c * FONT, y + r * FONT, FONT, FONT, colour);
    }
}

typedef struct {
    double lo, hi, step;
    int decimals; /* for tick labels */
} axis;

/* About five ticks at multiples of 1, 2 or 5 × 10^n, covering [min, max]. */
static axis nice_axis(double min, double max)
{
    if (!(max > min)) {
        double pad = fabs(min) > 0.0 ? 0.1 * fabs(min) : 1.0;
        min -= pad;
        max += pad;
    }
    double raw = (max - min) / 5.0, magnitude = pow(10.0, floor(log10(raw))), f = raw / magnitude;
    axis a;
    a.step = (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * magnitude;
    a.lo = floor(min / a.step + 1e-9) * a.step;
    a.hi = ceil(max / a.step - 1e-9) * a.step;
    a.decimals = a.step >= 1.0 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    return a;
}

static int tick_count(const axis *a) { return (int)floor((a->hi - a->lo) / a->step + 1e-9) + 1; }

static int to_px(const axis *a, double v)
{
    return LEFT + (int)lround((v - a->lo) / (a->hi - a->lo) * (WIDTH - LEFT - RIGHT));
}

static int to_py(const axis *a, double v)
{
    return HEIGHT - BOTTOM - (int)lround((v - a->lo) / (a->hi - a->lo) * (HEIGHT - TOP - BOTTOM));
}

static void draw_axes(unsigned char *rgb, const axis *ax, const axis *ay, const char *x_label, const char *y_label)
{
    char label[32];
    for (int i = 0; i < tick_count(ax); ++i) {
        double v = ax->lo + i * ax->step;
        int px = to_px(ax, v);
        draw_line(rgb, px, TOP, px, HEIGHT - BOTTOM, 1, grid_grey);
        draw_line(rgb, px, HEIGHT - BOTTOM, px, HEIGHT - BOTTOM + 5, 1, black);
        snprintf(label, sizeof label, "%.*f", ax->decimals, v);
        draw_text(rgb, px - text_width(label) / 2, HEIGHT - BOTTOM + 10, label, black);
    }
    for (int i = 0; i < tick_count(ay); ++i) {
        double v = ay->lo + i * ay->step;
        int py = to_py(ay, v);
        draw_line(rgb, LEFT, py, WIDTH - RIGHT, py, 1, grid_grey);
        draw_line(rgb, LEFT - 5, py, LEFT, py, 1, black);
        snprintf(label, sizeof label, "%.*f", ay->decimals, v);
        draw_text(rgb, LEFT - 10 - text_width(label), py - 5 * FONT / 2, label, black);
    }
    draw_text(rgb, LEFT + (WIDTH - LEFT - RIGHT - text_width(x_label)) / 2, HEIGHT - 5 * FONT - 8, x_label, black);
    draw_text(rgb, 8, TOP - 5 * FONT - 12, y_label, black);
}

static void draw_frame_and_legend(unsigned char *rgb, const gc_plot_series *series, int count)
{
    draw_line(rgb, LEFT, TOP, LEFT, HEIGHT - BOTTOM, 1, black);
    draw_line(rgb, LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM, 1, black);
    draw_line(rgb, LEFT, TOP, WIDTH - RIGHT, TOP, 1, border_grey);
    draw_line(rgb, WIDTH - RIGHT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM, 1, border_grey);
    /* Bottom right: accuracy curves climb towards the top, so that corner stays clear longest. */
    int text_w = 0;
    for (int s = 0; s < count; ++s)
        if (text_width(series[s].name) > text_w) text_w = text_width(series[s].name);
    const int row_h = 6 * FONT + 8, box_w = 24 + 10 + text_w + 20, box_h = count * row_h + 12;
    const int x0 = WIDTH - RIGHT - 12 - box_w, y0 = HEIGHT - BOTTOM - 12 - box_h;
    fill_rect(rgb, x0, y0, box_w, box_h, border_grey);
    fill_rect(rgb, x0 + 1, y0 + 1, box_w - 2, box_h - 2, white);
    for (int s = 0; s < count; ++s) {
        int y = y0 + 8 + s * row_h;
        fill_rect(rgb, x0 + 10, y, 24, 5 * FONT, series[s].rgb);
        draw_text(rgb, x0 + 10 + 24 + 10, y, series[s].name, black);
    }
}

static void render(unsigned char *rgb, const char *x_label, const char *y_label, const gc_plot_series *series,
                   int count)
{
    double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
    for (int s = 0; s < count; ++s)
        for (int i = 0; i < series[s].count; ++i) {
            x_min = fmin(x_min, series[s].x[i]);
            x_max = fmax(x_max, series[s].x[i]);
            y_min = fmin(y_min, series[s].y[i]);
            y_max = fmax(y_max, series[s].y[i]);
        }
    if (x_min > x_max) x_min = x_max = y_min = y_max = 0.0; /* no points: an empty chart */
    const axis ax = nice_axis(x_min, x_max), ay = nice_axis(y_min, y_max);
    memset(rgb, 255, (size_t)WIDTH * HEIGHT * 3);
    draw_axes(rgb, &ax, &ay, x_label, y_label);
    for (int s = 0; s < count; ++s) {
        const gc_plot_series *p = &series[s];
        for (int i = 0; i < p->count; ++i) {
            int px = to_px(&ax, p->x[i]), py = to_py(&ay, p->y[i]);
            if (i > 0) draw_line(rgb, to_px(&ax, p->x[i - 1]), to_py(&ay, p->y[i - 1]), px, py, 3, p->rgb);
            fill_rect(rgb, px - 3, py - 3, 7, 7, p->rgb);
        }
    }
    draw_frame_and_legend(rgb, series, count);
}

/* libpng reports errors by calling this, which must not return: it jumps back into encode(). */
typedef struct {
    jmp_buf jump;
    char message[256];
} png_failure;

static void on_png_error(png_structp png, png_const_charp message)
{
    png_failure *failure = png_get_error_ptr(png);
    snprintf(failure->message, sizeof failure->message, "%s", message);
    longjmp(failure->jump, 1);
}

/* Warnings do not stop libpng from writing a valid file, and gradcore prints one line or none. */
static void on_png_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

/* Its own function so that no local variable lives across setjmp: returns 0, or 1 after libpng
 * failed (the reason is in failure->message). */
static int encode(png_structp png, png_infop info, FILE *f, const unsigned char *rgb, png_failure *failure)
{
    if (setjmp(failure->jump) != 0) return 1;
    png_init_io(png, f);
    png_set_IHDR(png, info, WIDTH, HEIGHT, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < HEIGHT; ++y) png_write_row(png, rgb + (size_t)y * WIDTH * 3);
    png_write_end(png, NULL);
    return 0;
}

static int write_png(const char *tmp, const char *path, const char *option, const unsigned char *rgb)
{
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) return gc_fail(GC_ERR_IO, "%s %s: cannot create the file: %s", option, path, strerror(errno));
    png_failure failure;
    memset(&failure, 0, sizeof failure);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, on_png_error, on_png_warning);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    int status = GC_OK;
    if (png == NULL || info == NULL)
        status = gc_fail(GC_ERR_MEMORY, "%s %s: out of memory starting libpng", option, path);
    else if (encode(png, info, f, rgb, &failure) != 0)
        status = gc_fail(GC_ERR_IO, "%s %s: libpng: %s", option, path, failure.message);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0 && status == GC_OK)
        status = gc_fail(GC_ERR_IO, "%s %s: cannot finish writing: %s", option, path, strerror(errno));
    return status;
}

int gc_plot_png(const char *path, const char *option, const char *x_label, const char *y_label,
                const gc_plot_series *series, int series_count)
{
    unsigned char *rgb = gc_malloc((size_t)WIDTH * HEIGHT * 3);
    GC_CHECK_ALLOC(rgb);
    render(rgb, x_label, y_label, series, series_count);
    char tmp[4096];
    gc_temporary_name(path, tmp, sizeof tmp);
    int status = write_png(tmp, path, option, rgb);
    free(rgb);
    return gc_commit_output(option, tmp, path, status);
}
